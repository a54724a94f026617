// Package nvscsv reads the CSV dialect of ESP-IDF's nvs_partition_gen.py into nvs.Items, with
// errors that name the file, line and key.
//
// The dialect: a header naming the columns key, type, encoding and value (in any order); lines
// starting with '#' removed before parsing; Python's csv "excel" quoting; type namespace, data
// or file; encodings u8 … i64, string, hex2bin, base64, binary, blob_fill(N;0xPP) and
// blob_sz_fill(N;0xPP). Values convert as the reference converts them (Python int() for
// integers, lenient base64, and so on). Where the reference has a quirk that corrupts data,
// the parser does what the user meant and reports a Notice; see the repository README.
//
// The package reads no files itself: file rows go through Options.ReadFile.
package nvscsv
