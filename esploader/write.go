package esploader

import (
	"bytes"
	"compress/zlib"
	"crypto/md5"
	"errors"
	"fmt"
)

// Compression selects how WriteFlash sends the data.
type Compression int

// The compression modes.
const (
	// CompressAuto compresses where the chip's ROM is known to program exactly the image (see
	// Chip.CompressesWrites) and writes uncompressed elsewhere.
	CompressAuto Compression = iota
	// CompressNever writes uncompressed (FLASH_BEGIN/FLASH_DATA) on every chip.
	CompressNever
	// CompressAlways compresses (FLASH_DEFL_*) on every chip whose ROM is not known to program
	// past the image; on the ESP32 WriteFlash refuses it with ErrDeflateOverrun.
	CompressAlways
)

// WriteOptions tune WriteFlash.
type WriteOptions struct {
	// Compression selects compressed or uncompressed writes (default CompressAuto).
	Compression Compression
	// Level is the zlib level (1..9); 0 means 9. Compress keeps whichever of its two streams
	// is smaller on the wire.
	Level int
	// Attempts is how many times the whole write is tried when a block cannot be delivered or
	// the MD5 does not match (default 2).
	Attempts int
	// Progress, if not nil, is called with the image bytes written so far and the total.
	Progress func(done, total int)
}

// WriteResult describes a finished write.
type WriteResult struct {
	Size       int      // image bytes
	Compressed int      // zlib stream bytes; 0 when written uncompressed
	Sent       int      // data bytes sent in blocks: the zlib stream, or the raw blocks up to the last one not all 0xFF
	Blocks     int      // FLASH_DEFL_DATA or FLASH_DATA packets
	Attempts   int      // whole-write attempts used
	Retries    int      // commands sent again because a reply was lost or garbled
	MD5        [16]byte // verified MD5 of the image
	WireOut    int64    // bytes sent for the write and its verification
	WireIn     int64    // bytes received for the write and its verification
}

// Compress returns data as one zlib stream that inflates to exactly data, at level 9 when
// level is 0. It tries the data both as one run and with a block boundary (a sync flush)
// before the trailing 0xFF bytes, which then get a block and Huffman codes of their own instead
// of sharing the codes of the data before them, and keeps the stream that costs the fewest bytes
// on the wire (length plus SLIP escapes). Levels 6 to 8 are not tried: on NVS images they
// saved a few escapes at four times the CPU time.
func Compress(data []byte, level int) []byte {
	split := len(data)
	for split > 0 && data[split-1] == 0xFF {
		split--
	}
	levels := []int{zlib.BestCompression}
	if level != 0 {
		levels = []int{level}
	}
	var best []byte
	bestCost := -1
	for _, lv := range levels {
		for _, at := range []int{len(data), split} {
			z := zlibLevel(data, lv, at)
			cost := len(z) + bytes.Count(z, []byte{slipEnd}) + bytes.Count(z, []byte{slipEsc})
			if bestCost < 0 || cost < bestCost {
				best, bestCost = z, cost
			}
			if split == len(data) || split == 0 {
				break
			}
		}
	}
	return best
}

// zlibLevel compresses data at level, with a sync flush after the first split bytes when
// split < len(data).
func zlibLevel(data []byte, level, split int) []byte {
	var b bytes.Buffer
	w, err := zlib.NewWriterLevel(&b, level)
	if err != nil {
		w, _ = zlib.NewWriterLevel(&b, zlib.BestCompression)
	}
	w.Write(data[:split])
	if split < len(data) {
		w.Flush()
		w.Write(data[split:])
	}
	w.Close()
	return b.Bytes()
}

// WriteFlash writes data at offset (a multiple of 4 KiB) and then checks the chip's MD5 of
// exactly that range. It never returns a nil error unless the MD5 matched.
//
// Where the ROM is known to program exactly the image (Chip.CompressesWrites) the data goes as
// one zlib stream (FLASH_DEFL_BEGIN/DATA). Elsewhere it goes uncompressed (FLASH_BEGIN/DATA, as
// esptool writes without its stub): FLASH_BEGIN erases the whole range, and the blocks after the
// last one holding anything but 0xFF are not sent, since the erase already left them so.
// It does not send FLASH_END or FLASH_DEFL_END, which would make a ROM loader leave download mode.
func (l *Loader) WriteFlash(offset uint32, data []byte, opt WriteOptions) (res WriteResult, err error) {
	res = WriteResult{Size: len(data), MD5: md5.Sum(data)}
	if offset%0x1000 != 0 {
		return res, fmt.Errorf("write at 0x%X: %w", offset, ErrUnaligned)
	}
	if len(data) == 0 {
		return res, errors.New("nothing to write: the image is empty")
	}
	if l.sec != nil && l.sec.SecureDownload() {
		return res, ErrSecureDownload
	}
	if err := l.attach(); err != nil {
		return res, err
	}
	if opt.Attempts <= 0 {
		opt.Attempts = 2
	}
	out0, in0 := l.WireBytes()
	r0 := l.retries
	defer func() {
		o, i := l.WireBytes()
		res.WireOut, res.WireIn = o-out0, i-in0
		res.Retries = l.retries - r0
	}()
	compress := l.chip.CompressesWrites()
	switch opt.Compression {
	case CompressNever:
		compress = false
	case CompressAlways:
		if deflateBehaviour(l.chip) == deflateUnsafe {
			return res, fmt.Errorf("%w (%s)", ErrDeflateOverrun, l.chip.Name)
		}
		compress = true
	}
	var z []byte
	if compress {
		z = Compress(data, opt.Level)
		res.Compressed, res.Sent = len(z), len(z)
	}
	for a := 1; a <= opt.Attempts; a++ {
		res.Attempts = a
		if compress {
			err = l.writeOnce(offset, len(data), data, z, &res, opt.Progress)
		} else {
			err = l.writePlain(offset, data, &res, opt.Progress)
		}
		if err != nil {
			if errors.Is(err, ErrDisconnected) {
				return res, err
			}
			err = fmt.Errorf("%w; the serial link is unreliable: try a lower --baud, a shorter cable or another USB port", err)
			continue
		}
		var sum [16]byte
		sum, err = l.FlashMD5(offset, len(data))
		if err != nil {
			if errors.Is(err, ErrDisconnected) {
				return res, err
			}
			continue
		}
		if sum == res.MD5 {
			return res, nil
		}
		err = fmt.Errorf("%w at 0x%X (flash %x, image %x); run the command again, and if it keeps failing check the power supply and the flash chip", ErrMD5Mismatch, offset, sum, res.MD5)
	}
	return res, err
}

func (l *Loader) writeOnce(offset uint32, size int, raw, z []byte, res *WriteResult, progress func(int, int)) error {
	blocks := (len(z) + romBlock - 1) / romBlock
	res.Blocks = blocks
	// The ROM wants the erase size rounded up to its block size.
	erase := (size + romBlock - 1) / romBlock * romBlock
	if _, _, err := l.do(CmdFlashDeflBegin, l.beginWords(uint32(erase), uint32(blocks), romBlock, offset), 0, 0, l.sizeTimeout(30, erase)); err != nil {
		return fmt.Errorf("starting the write at 0x%X: %w", offset, err)
	}
	if progress != nil {
		progress(0, size)
	}
	perBlock := 0
	if blocks > 0 {
		perBlock = (len(raw) + blocks - 1) / blocks
	}
	for seq := 0; seq < blocks; seq++ {
		chunk := z[seq*romBlock : min(len(z), (seq+1)*romBlock)]
		pkt := append(words(uint32(len(chunk)), uint32(seq), 0, 0), chunk...)
		// Allow for the uncompressed bytes this block may expand to.
		if _, _, err := l.do(CmdFlashDeflData, pkt, Checksum(chunk), 0, l.sizeTimeout(40, max(perBlock, romBlock))); err != nil {
			return fmt.Errorf("writing block %d of %d at 0x%X: %w", seq+1, blocks, offset, err)
		}
		if progress != nil {
			progress(min(size, (seq+1)*size/blocks), size)
		}
	}
	return nil
}

// writePlain writes data uncompressed: FLASH_BEGIN erases the range (rounded up to the ROM's
// block size, and by the ROM to whole sectors), then FLASH_DATA blocks of 0x400 bytes, the last
// padded with 0xFF, up to the last block that is not all 0xFF.
func (l *Loader) writePlain(offset uint32, data []byte, res *WriteResult, progress func(int, int)) error {
	used := len(data)
	for used > 0 && data[used-1] == 0xFF {
		used--
	}
	blocks := (used + romBlock - 1) / romBlock
	res.Blocks, res.Sent = blocks, blocks*romBlock
	erase := (len(data) + romBlock - 1) / romBlock * romBlock
	if _, _, err := l.do(CmdFlashBegin, l.beginWords(uint32(erase), uint32(blocks), romBlock, offset), 0, 0, l.sizeTimeout(30, erase)); err != nil {
		return fmt.Errorf("starting the write at 0x%X: %w", offset, err)
	}
	if progress != nil {
		progress(0, len(data))
	}
	block := make([]byte, romBlock)
	for seq := 0; seq < blocks; seq++ {
		n := copy(block, data[seq*romBlock:min(len(data), (seq+1)*romBlock)])
		for i := n; i < romBlock; i++ {
			block[i] = 0xFF
		}
		pkt := append(words(romBlock, uint32(seq), 0, 0), block...)
		if _, _, err := l.do(CmdFlashData, pkt, Checksum(block), 0, l.opts.Timeout); err != nil {
			return fmt.Errorf("writing block %d of %d at 0x%X: %w", seq+1, blocks, offset, err)
		}
		if progress != nil {
			progress(min(len(data), (seq+1)*romBlock), len(data))
		}
	}
	if progress != nil {
		progress(len(data), len(data))
	}
	return nil
}
