// Nettle's message digests (the library GnuTLS is built on): MD5 for Confluent's schema identity, SHA-256 for
// fingerprints; HMAC and PBKDF2 for the registry's credentials.
#include <nettle/md5.h>
#include <nettle/sha2.h>
#include <nettle/hmac.h>
#include <nettle/pbkdf2.h>
