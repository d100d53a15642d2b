#include <gnutls/gnutls.h>

// gnutls_free is a global function-pointer variable (shadowed by a macro); Swift 6 refuses to read
// a mutable C global, so memory GnuTLS hands out is released through this function instead.
static inline void cgnutls_free(void *pointer) { gnutls_free(pointer); }
