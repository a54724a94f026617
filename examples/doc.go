// Package examples holds no Go code of its own: its folders are complete example projects
// (platformio-aws-iot, esp-idf-factory), and its test builds each example's NVS images with the
// nvskit CLI in-process and checks them against the example's files and partition table, with
// nvskit check and nvskit partitions check where this build has them.
package examples
