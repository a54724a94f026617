// Package station is the provisioning loop of one factory station: for each of its ports (a
// jig), in parallel, wait for a device, connect, read its chip type and MAC, claim an identity
// for that MAC from the ledger, build the device's NVS image (with its certificate and keys,
// package mfg), write and verify it, record the result, reset the chip and wait for the next.
//
// It is crash-safe with the ledger: the claim binds the identity to the MAC before anything
// is written, so a station killed at any point and started again gives the chip the same
// identity (a chip already provisioned is only verified). A device of another chip type than
// the line's, or one that cannot take the image, is refused before the claim: it takes no
// identity and nothing is written to it.
//
// The package knows nothing of flags or terminals: progress is a stream of Events, which the
// command renders as a live view or as JSON lines for a line controller.
package station
