package nvs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors for unusable images.
var (
	// ErrEmptyImage: the image has no bytes.
	ErrEmptyImage = errors.New("image is empty")
	// ErrImageSize: the image size is not a multiple of the 4096-byte page.
	ErrImageSize = errors.New("image size is not a multiple of 4096 bytes")
)

func checkImage(image []byte) error {
	if len(image) == 0 {
		return ErrEmptyImage
	}
	if len(image)%PageSize != 0 {
		return fmt.Errorf("%d bytes (%d whole pages and %d bytes more; truncated?): %w",
			len(image), len(image)/PageSize, len(image)%PageSize, ErrImageSize)
	}
	return nil
}

func allFF(b []byte) bool {
	for _, c := range b {
		if c != 0xFF {
			return false
		}
	}
	return true
}

// Editor changes an NVS image the way ESP-IDF's nvs_flash library does on the device (the
// library version of late 2020, whose on-flash behaviour ESP-IDF v4.x and v5.x share): a write
// of an unchanged value writes nothing, a new value is appended and the old entry erased, blobs
// alternate between chunk-index versions 0 and 128, a full page is closed and the next free
// page opened, and when only the reserve page is left the page with the most unused entries is
// garbage-collected into it. The image it returns is the one the device would have written.
//
// An Editor is a mounted partition: like the device, it repairs what a power cut left behind
// when it is created (see Remount), and keeps the library's in-memory state between calls.
type Editor struct {
	d *device
}

// NewEditor mounts a copy of image for editing. keys is nil for a plain image; with keys the
// image is decrypted, edited and every written entry encrypted again with its own offset as
// tweak. Mounting applies the library's recovery (duplicates after a power cut, a FREEING page,
// half-written entries, orphan blob chunks), which changes the image as the device would.
func NewEditor(image []byte, keys *Keys) (*Editor, error) {
	if err := checkImage(image); err != nil {
		return nil, err
	}
	raw := append([]byte(nil), image...)
	img := raw
	var c *Cipher
	if keys != nil {
		var err error
		if c, err = NewCipher(*keys); err != nil {
			return nil, err
		}
		img = append([]byte(nil), image...)
		c.Decrypt(img)
		if good, bad := checkEntryCRCs(img); bad > 0 && good == 0 {
			return nil, wrongKeys(image, bad)
		}
	}
	d := newDevice(img, raw, c)
	if err := d.mount(); err != nil {
		return nil, fmt.Errorf("mount: %w", err)
	}
	return &Editor{d: d}, nil
}

// Remount is a reboot: the library's in-memory state is dropped and the image mounted again,
// with the mount-time recovery.
func (e *Editor) Remount() error {
	if err := e.d.mount(); err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	return nil
}

// Image returns a copy of the image as it is on flash now (encrypted when the editor has keys).
func (e *Editor) Image() []byte { return append([]byte(nil), e.d.raw...) }

// Plain returns a copy of the decrypted image (the same as Image for a plain image).
func (e *Editor) Plain() []byte { return append([]byte(nil), e.d.img...) }

func (e *Editor) open(namespace string) (uint8, error) {
	if namespace == "" {
		return 0, ErrNoNamespace
	}
	if len(namespace) > MaxKeyLen {
		return 0, fmt.Errorf("namespace %q: %w", namespace, ErrKeyTooLong)
	}
	return e.d.openNamespace(namespace, true)
}

// Set stores it as nvs_set_* would: it.Type is an integer type (value in it.Value), TypeString
// (it.Data as stored, normally with its NUL, as String makes it) or TypeBlob. The namespace is
// created when it does not exist, as nvs_open does. A failed write (ErrNotEnoughSpace,
// ErrValueTooLong, ...) can still have changed the image, as on the device (for example by a
// garbage collection).
func (e *Editor) Set(it Item) error {
	if it.Key == "" {
		return ErrEmptyKey
	}
	if strings.IndexByte(it.Namespace, 0) >= 0 || strings.IndexByte(it.Key, 0) >= 0 {
		return fmt.Errorf("namespace or key holds a NUL byte: %w", ErrNUL)
	}
	if n := len(it.Data); it.Type == TypeString && n > 1 && bytes.IndexByte(it.Data[:n-1], 0) >= 0 {
		return fmt.Errorf("string has a NUL byte before its end: %w", ErrNUL)
	}
	ns, err := e.open(it.Namespace)
	if err != nil {
		return err
	}
	var data []byte
	typ := it.Type
	switch {
	case typ.IsInt():
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], it.Value)
		data = b[:typ.Width()]
	case typ == TypeString:
		data = it.Data
	case typ == TypeBlob:
		data = it.Data
		if data == nil {
			data = []byte{}
		}
	default:
		return fmt.Errorf("%s: %w", typ, ErrBadType)
	}
	if len(it.Key) > MaxKeyLen {
		return fmt.Errorf("key %q: %w", it.Key, ErrKeyTooLong)
	}
	return e.d.writeItem(ns, typ, it.Key, data)
}

// Erase removes one key as nvs_erase_key does. It returns an error wrapping ErrNotFound when
// the key does not exist (the namespace is still created, as nvs_open does on the device).
func (e *Editor) Erase(namespace, key string) error {
	ns, err := e.open(namespace)
	if err != nil {
		return err
	}
	if err := e.d.eraseKey(ns, key); err != nil {
		return fmt.Errorf("%s/%s: %w", namespace, key, err)
	}
	return nil
}

// EraseNamespace removes every key of a namespace as nvs_erase_all does. The namespace entry
// itself stays, and so does its index.
func (e *Editor) EraseNamespace(namespace string) error {
	ns, err := e.open(namespace)
	if err != nil {
		return err
	}
	e.d.eraseNamespace(ns)
	return nil
}
