package esploader

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
)

// Errors of encrypted writes.
var (
	// ErrNoROMEncryption: the chip's ROM loader cannot write through flash encryption (the
	// ESP32's has no encrypted write); encrypt on the host with the flash key instead.
	ErrNoROMEncryption = errors.New("the ROM loader of this chip cannot write through flash encryption")
	// ErrEncryptRefused: the ROM refused FLASH_BEGIN with the encrypted flag (status 0x64):
	// encrypted download is disabled in eFuse, or the flash size is wrong.
	ErrEncryptRefused = errors.New("the ROM refused the encrypted write")
	// ErrNotEncrypted: after an encrypted write the flash holds the plaintext: the chip did not
	// encrypt it.
	ErrNotEncrypted = errors.New("the flash holds the plaintext after an encrypted write: the chip did not encrypt it")
	// ErrNothingWritten: after a write the range is still erased.
	ErrNothingWritten = errors.New("the flash range is still erased after the write")
)

// EncryptedWriteOptions tune WriteFlashEncrypted.
type EncryptedWriteOptions struct {
	// Expected, if not nil, returns the ciphertext the chip must store for plain at offset (the
	// host's encryption with the chip's flash key). The write is then verified: the chip's MD5
	// of the range must equal the MD5 of that ciphertext.
	Expected func(offset uint32, plain []byte) ([]byte, error)
	// Progress, if not nil, is called with the bytes written so far and the total.
	Progress func(done, total int)
}

// EncryptedWriteResult describes a finished encrypted write.
type EncryptedWriteResult struct {
	Size    int // data bytes
	Written int // bytes programmed: Size padded with 0xFF to whole 0x400 blocks, all encrypted
	Blocks  int // FLASH_DATA packets
	Retries int // commands sent again
	// Verified: the chip's MD5 of the range matched the expected ciphertext.
	Verified bool
	// Check says what was checked when the write could not be verified.
	Check   string
	MD5     [16]byte // the chip's MD5 of the written range (zero in Secure Download Mode)
	WireOut int64
	WireIn  int64
}

// WriteFlashEncrypted writes data at offset (a multiple of 4 KiB) through the chip's flash
// encryption: FLASH_BEGIN with the encrypted flag, then uncompressed FLASH_DATA blocks of
// 0x400 bytes (the ROM refuses compressed encrypted writes), the last one padded with 0xFF. The
// chip encrypts each block with its eFuse key at its absolute address; the padding is encrypted
// too. It does not send FLASH_END.
//
// With opt.Expected the result is Verified when the chip's MD5 matches the expected ciphertext
// (ErrMD5Mismatch otherwise). Without it the write cannot be verified: the flash must differ from
// the plaintext (ErrNotEncrypted) and from erased flash (ErrNothingWritten), and Check says so. In
// Secure Download Mode nothing can be read back, and Check says that.
func (l *Loader) WriteFlashEncrypted(offset uint32, data []byte, opt EncryptedWriteOptions) (res EncryptedWriteResult, err error) {
	res.Size = len(data)
	if l.chip.BeginWords != 5 {
		return res, fmt.Errorf("%s: %w", l.chip.Name, ErrNoROMEncryption)
	}
	if offset%0x1000 != 0 {
		return res, fmt.Errorf("encrypted write at 0x%X: %w", offset, ErrUnaligned)
	}
	if len(data) == 0 {
		return res, errors.New("nothing to write: the image is empty")
	}
	if err := l.attach(); err != nil {
		return res, err
	}
	out0, in0 := l.WireBytes()
	r0 := l.retries
	defer func() {
		o, i := l.WireBytes()
		res.WireOut, res.WireIn = o-out0, i-in0
		res.Retries = l.retries - r0
	}()
	blocks := (len(data) + romBlock - 1) / romBlock
	padded := make([]byte, blocks*romBlock)
	copy(padded, data)
	for i := len(data); i < len(padded); i++ {
		padded[i] = 0xFF
	}
	res.Written, res.Blocks = len(padded), blocks
	var want []byte
	if opt.Expected != nil {
		if want, err = opt.Expected(offset, padded); err != nil {
			return res, err
		}
		if len(want) != len(padded) {
			return res, fmt.Errorf("expected ciphertext is %d bytes, want %d", len(want), len(padded))
		}
	}
	_, _, err = l.do(CmdFlashBegin, words(uint32(len(padded)), uint32(blocks), romBlock, offset, 1), 0, 0, l.sizeTimeout(30, len(padded)))
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && !se.Unsupported() {
			return res, fmt.Errorf("%w at 0x%X (%v): encrypted download is disabled in eFuse (release mode), or the flash size is wrong", ErrEncryptRefused, offset, err)
		}
		return res, fmt.Errorf("starting the encrypted write at 0x%X: %w", offset, err)
	}
	if opt.Progress != nil {
		opt.Progress(0, len(data))
	}
	for seq := 0; seq < blocks; seq++ {
		chunk := padded[seq*romBlock : (seq+1)*romBlock]
		pkt := append(words(uint32(len(chunk)), uint32(seq), 0, 0), chunk...)
		if _, _, err := l.do(CmdFlashData, pkt, Checksum(chunk), 0, l.opts.Timeout); err != nil {
			return res, fmt.Errorf("writing encrypted block %d of %d at 0x%X: %w", seq+1, blocks, offset, err)
		}
		if opt.Progress != nil {
			opt.Progress(min(len(data), (seq+1)*romBlock), len(data))
		}
	}
	if l.sec != nil && l.sec.SecureDownload() {
		res.Check = "not verified: the chip is in Secure Download Mode, which refuses MD5 and reads"
		return res, nil
	}
	sum, err := l.FlashMD5(offset, len(padded))
	if err != nil {
		return res, fmt.Errorf("checking the encrypted write: %w", err)
	}
	res.MD5 = sum
	if want != nil {
		if sum != md5.Sum(want) {
			return res, fmt.Errorf("%w at 0x%X: the flash does not hold the ciphertext of the image under the given key (flash %x, expected %x); check that the key is the one burnt into the chip", ErrMD5Mismatch, offset, sum, md5.Sum(want))
		}
		res.Verified = true
		return res, nil
	}
	switch sum {
	case md5.Sum(padded):
		return res, fmt.Errorf("%w (0x%X)", ErrNotEncrypted, offset)
	case md5.Sum(bytes.Repeat([]byte{0xFF}, len(padded))):
		return res, fmt.Errorf("%w (0x%X)", ErrNothingWritten, offset)
	}
	res.Check = "not verified: without the flash key the ciphertext cannot be computed; the flash differs from the plaintext and from erased flash"
	return res, nil
}
