package nvscsv_test

import (
	"fmt"
	"strings"

	"github.com/nvskit/nvskit/nvs"
	"github.com/nvskit/nvskit/nvscsv"
)

func ExampleParseFile() {
	csv := `key,type,encoding,value
certs,namespace,,
serial,data,string,SN-0001
boot_count,data,u32,0
root_ca,file,string,root.ca.pem
`
	files := map[string]string{"root.ca.pem": "-----BEGIN CERTIFICATE-----\n..."}
	rows, _, err := nvscsv.ParseFile("nvs.csv", strings.NewReader(csv), nvscsv.Options{
		ReadFile: func(name string) ([]byte, error) { return []byte(files[name]), nil },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var items []nvs.Item
	for _, r := range rows {
		if r.Item.Key == "" {
			fmt.Printf("line %d: namespace %s\n", r.Line, r.Item.Namespace)
		} else {
			fmt.Printf("line %d: %s/%s %s\n", r.Line, r.Item.Namespace, r.Item.Key, r.Item.Type)
		}
		items = append(items, r.Item)
	}
	img, _ := nvs.Build(items, nvs.Options{Size: 0x3000})
	fmt.Println(len(img), "bytes")
	// Output:
	// line 2: namespace certs
	// line 3: certs/serial string
	// line 4: certs/boot_count u32
	// line 5: certs/root_ca string
	// 12288 bytes
}

func ExampleParseFile_error() {
	_, _, err := nvscsv.ParseFile("nvs.csv", strings.NewReader("key,type,encoding,value\nns,namespace,,\ndevice_certificate,data,u8,1\n"), nvscsv.Options{})
	fmt.Println(err)
	// Output: nvs.csv:3: key "device_certificate" is 18 characters; NVS keys are at most 15
}
