package nvs

import (
	"errors"
	"fmt"
)

// ErrNotNVS: the bytes are not an NVS partition image (no page has a valid NVS page header,
// and the image is not an erased partition either).
var ErrNotNVS = errors.New("not an NVS partition image")

// Recognize judges whether image is an NVS partition image before anything is read from it or
// written over it. It returns nil when at least one page has a valid NVS page header (a state
// the library writes and a matching header CRC; encrypted images qualify, their headers are
// plain) or when every byte is 0xFF (an erased partition, which the device mounts as a valid
// empty one). Otherwise it returns an error wrapping ErrNotNVS that says what the bytes look
// like, or ErrEmptyImage / ErrImageSize for an empty or truncated image.
//
// A damaged image keeps at least one good page header in practice; Parse then lists its
// problems as findings. Recognize only keeps random bytes, zero-filled files and other formats
// (a CSV, a firmware binary) from being taken for an image.
func Recognize(image []byte) error {
	if err := checkImage(image); err != nil {
		return err
	}
	pages := len(image) / PageSize
	var valid, erased, zero int
	for p := 0; p < pages; p++ {
		pg := image[p*PageSize : (p+1)*PageSize]
		h := DecodePageHeader(pg)
		switch {
		case allFF(pg):
			erased++
		case allZero(pg):
			zero++
		case h.State == PageActive || h.State == PageFull || h.State == PageFreeing || h.State == PageCorrupt:
			if h.CRC == HeaderCRC(pg[:HeaderSize]) {
				valid++
			}
		}
	}
	switch {
	case valid > 0, erased == pages:
		return nil
	case zero == pages:
		return fmt.Errorf("all %d bytes are zero (an erased partition is all 0xFF): %w", len(image), ErrNotNVS)
	}
	return fmt.Errorf("none of its %d pages has a valid NVS page header (%d erased, %d other data): %w",
		pages, erased, pages-erased, ErrNotNVS)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// DamagedPage returns the first finding about a page the device would treat as corrupt and
// erase when it mounts the image (a page header whose CRC does not match, an unknown page
// state, or a header with no valid content on a page marked in use), or nil when there is
// none. An image with such a page is no fit to write to a device as it is.
func (im *Image) DamagedPage() *Finding {
	for i := range im.Findings {
		f := &im.Findings[i]
		blankHeader := f.Code == "corrupt-page" && f.Page >= 0 && f.Page < len(im.Pages) && im.Pages[f.Page].State == PageEmpty
		if f.Code == "header-crc" || f.Code == "page-state" || blankHeader {
			return f
		}
	}
	return nil
}
