// Package mfg is nvskit's mass manufacturing: one NVS partition image per device, from a
// config (CONFIG.csv: key,type,encoding[,REPEAT] rows, the dialect of ESP-IDF's mfg_gen.py)
// and a values table (VALUES.csv: one row per device), byte-identical to mfg_gen.py's images.
//
// A Generator reads VALUES.csv row by row and builds the images on a pool of workers, so
// memory stays bounded however many devices there are; every device goes to a Sink. Output is
// the Sink that writes mfg_gen's layout (bin/<prefix>-<id>.bin, keys/keys-<prefix>-<id>.bin)
// plus a manifest, all or nothing: files are staged and moved into place by Output.Commit, in
// a journaled order in which an image never exists without its keys; OpenOutput finishes a
// commit that an earlier run was interrupted in, and removes what a run that never committed
// left behind. Generator.Run stops as soon as its context is cancelled, also while a read of
// VALUES.csv waits.
//
// Values are converted with exactly the rules of the generate CSV (package nvscsv), and every
// encoding is accepted, including i16, u64 and i64, which mfg_gen.py refuses. No per-device CSV
// is written.
//
// With an Issuer, every device also gets a fresh key pair (ECDSA P-256 or RSA-2048) and an
// X.509 certificate signed by a CA, with the device's file id as subject CN. Config rows of type
// x509_cert, x509_key and x509_ca say under which keys the certificate, the private key
// (PKCS#8) and the CA certificate are stored: encoding string stores PEM text, binary stores
// DER bytes. These rows take no VALUES.csv column.
//
// Unlike the other format packages, Output writes files: the output layout and its atomic
// commit are what this package is for.
package mfg
