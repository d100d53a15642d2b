// Nettle's message digests (the library GnuTLS is built on): MD5 for Confluent's schema identity, SHA-256 for fingerprints.
#include <nettle/md5.h>
#include <nettle/sha2.h>
