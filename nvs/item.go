package nvs

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/nvskit/nvskit/internal/clip"
)

// Sentinel errors of the builder. Errors returned by Builder.Add and Builder.Image wrap these,
// so callers can branch with errors.Is.
var (
	ErrKeyTooLong        = errors.New("key too long")
	ErrEmptyKey          = errors.New("key is empty")
	ErrNoNamespace       = errors.New("item has no namespace")
	ErrTooManyNamespaces = errors.New("too many namespaces")
	ErrValueRange        = errors.New("value out of range for its type")
	ErrValueTooLong      = errors.New("value too long")
	ErrBadType           = errors.New("unsupported item type")
	// ErrNUL: a namespace, key or string holds a NUL byte; the device reads names and strings
	// only up to the first NUL.
	ErrNUL                = errors.New("NUL byte inside a name or string")
	ErrBadSize            = errors.New("bad partition size")
	ErrPartitionFull      = errors.New("data does not fit in the partition")
	ErrBuilderAlreadyDone = errors.New("builder already produced its image")
)

// Item is one value to store: a key in a namespace with a typed value. An Item with an empty
// Key only declares its Namespace: the builder writes the namespace's definition entry at that
// point, as a namespace row of the CSV does.
type Item struct {
	Namespace string
	Key       string
	// Type is one of the integer types, TypeString or TypeBlob. The builder writes a blob as a
	// V1 BLOB entry or as V2 BLOB_DATA chunks and a BLOB_IDX, following the image version.
	Type Type
	// Value holds an integer's bits: the value itself for unsigned types, its two's complement
	// for signed ones (uint64(int64(v))).
	Value uint64
	// Data is the payload of a string (as stored, with its terminating NUL) or blob.
	Data []byte
}

// Namespace returns an Item that declares namespace name.
func Namespace(name string) Item { return Item{Namespace: name} }

// Uint returns an unsigned integer item; t is TypeU8, TypeU16, TypeU32 or TypeU64.
func Uint(namespace, key string, t Type, v uint64) Item {
	return Item{Namespace: namespace, Key: key, Type: t, Value: v}
}

// Int returns a signed integer item; t is TypeI8, TypeI16, TypeI32 or TypeI64.
func Int(namespace, key string, t Type, v int64) Item {
	return Item{Namespace: namespace, Key: key, Type: t, Value: uint64(v)}
}

// String returns a string item. The NUL terminator the device expects is appended.
func String(namespace, key, s string) Item {
	d := make([]byte, len(s)+1)
	copy(d, s)
	return Item{Namespace: namespace, Key: key, Type: TypeString, Data: d}
}

// Blob returns a blob item holding b.
func Blob(namespace, key string, b []byte) Item {
	return Item{Namespace: namespace, Key: key, Type: TypeBlob, Data: b}
}

// Check validates an item against the limits of format version v: key and namespace length,
// integer range, string and blob size. The errors wrap this package's sentinels.
func (it *Item) Check(v Version) error {
	if it.Namespace == "" {
		return ErrNoNamespace
	}
	if len(it.Namespace) > MaxKeyLen {
		return fmt.Errorf("namespace %s is %d bytes; NVS names are at most %d: %w",
			clip.Quote(it.Namespace), len(it.Namespace), MaxKeyLen, ErrKeyTooLong)
	}
	if strings.IndexByte(it.Namespace, 0) >= 0 || strings.IndexByte(it.Key, 0) >= 0 {
		return fmt.Errorf("namespace %s, key %s: %w", clip.Quote(it.Namespace), clip.Quote(it.Key), ErrNUL)
	}
	if it.Key == "" {
		if it.Type != 0 || it.Data != nil {
			return ErrEmptyKey
		}
		return nil
	}
	if len(it.Key) > MaxKeyLen {
		return fmt.Errorf("key %s is %d characters; NVS keys are at most %d: %w",
			clip.Quote(it.Key), len(it.Key), MaxKeyLen, ErrKeyTooLong)
	}
	switch {
	case it.Type.IsInt():
		min, max := it.Type.IntRange()
		if it.Type.Signed() {
			if x := int64(it.Value); x < min || x > int64(max) {
				return fmt.Errorf("%d does not fit %s (%d..%d): %w", x, it.Type, min, max, ErrValueRange)
			}
		} else if it.Value > max {
			return fmt.Errorf("%d does not fit %s (0..%d): %w", it.Value, it.Type, max, ErrValueRange)
		}
	case it.Type == TypeString:
		limit := MaxString
		if v == V1 {
			limit = MaxStringV1
		}
		if len(it.Data) > limit {
			return fmt.Errorf("string is %d bytes with its NUL; the limit is %d: %w", len(it.Data), limit, ErrValueTooLong)
		}
		if n := len(it.Data); n > 1 && bytes.IndexByte(it.Data[:n-1], 0) >= 0 {
			return fmt.Errorf("string %s/%s has a NUL byte before its end: %w", it.Namespace, it.Key, ErrNUL)
		}
	case it.Type == TypeBlob:
		limit := MaxBlob
		if v == V1 {
			limit = MaxStringV1
		}
		if len(it.Data) > limit {
			return fmt.Errorf("blob is %d bytes; the device's limit is %d: %w", len(it.Data), limit, ErrValueTooLong)
		}
	default:
		return fmt.Errorf("%s: %w", it.Type, ErrBadType)
	}
	return nil
}
