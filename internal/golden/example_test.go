package golden_test

import (
	"fmt"

	"github.com/nvskit/nvskit/internal/golden"
)

// Load a suite and look at its cases.
func ExampleLoad() {
	cases, err := golden.Load("nvs-gen")
	if err != nil {
		fmt.Println(err)
		return
	}
	errs := 0
	for _, c := range cases {
		if c.Expect.Error {
			errs++
		}
	}
	fmt.Println(len(cases) > 0, errs > 0)
	// Output: true true
}
