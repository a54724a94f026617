// Package doctor diagnoses why an ESP-IDF device cannot read its (encrypted) NVS: from facts
// read off the device (its security state, its partition table, the raw nvs_keys and NVS
// partitions) and the user's files (keys, flash-encryption key, partition table, CSV) it
// derives findings, each with a stable code, the error the firmware returns because of it
// (by name and number), the evidence and the nvskit command that fixes it.
//
// The package does no I/O: the caller (nvskit doctor) reads the device and fills Facts.
package doctor
