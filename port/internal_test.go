package port

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestOpenErrorMapping(t *testing.T) {
	cases := []struct {
		in   error
		want error
	}{
		{os.ErrPermission, ErrPermission},
		{os.ErrNotExist, ErrNotFound},
	}
	for _, c := range cases {
		err := openError("/dev/ttyUSB0", c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("%v: %v", c.in, err)
		}
		if c.want == ErrPermission && runtime.GOOS == "linux" && !strings.Contains(err.Error(), "dialout") {
			t.Errorf("%v does not mention the dialout group", err)
		}
	}
}
