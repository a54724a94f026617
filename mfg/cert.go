package mfg

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/nvskit/nvskit/nvscsv"
)

// KeyType is the kind of key pair issued to each device.
type KeyType string

// Key types for IssuerOptions.KeyType.
const (
	KeyECDSAP256 KeyType = "ecdsa-p256"
	KeyRSA2048   KeyType = "rsa2048"
)

// IssuerOptions are the template of the device certificates.
type IssuerOptions struct {
	// KeyType is the device key type; empty means KeyECDSAP256.
	KeyType KeyType
	// Days is the validity in days from issue; zero means 3650.
	Days int
	// Subject holds the subject fields other than the common name, which is always the
	// device's file id (Organization, OrganizationalUnit, Country, Province, Locality).
	Subject pkix.Name
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Issuer issues a fresh key pair and an X.509 certificate, signed by a CA, for each device.
// It is safe for concurrent use.
type Issuer struct {
	ca    *x509.Certificate
	caDER []byte
	caKey crypto.Signer
	opts  IssuerOptions
	caPEM []byte
}

// NewIssuer parses a CA certificate and its private key, both PEM (the key as PKCS#8,
// "EC PRIVATE KEY" or "RSA PRIVATE KEY"), and checks that they belong together and that the
// certificate may sign certificates.
func NewIssuer(caCertPEM, caKeyPEM []byte, opts IssuerOptions) (*Issuer, error) {
	if opts.KeyType == "" {
		opts.KeyType = KeyECDSAP256
	}
	if opts.KeyType != KeyECDSAP256 && opts.KeyType != KeyRSA2048 {
		return nil, fmt.Errorf("key type %q: use %s or %s", opts.KeyType, KeyECDSAP256, KeyRSA2048)
	}
	if opts.Days == 0 {
		opts.Days = 3650
	}
	if opts.Days < 0 {
		return nil, fmt.Errorf("validity of %d days: must be positive", opts.Days)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	blk := firstPEM(caCertPEM, "CERTIFICATE")
	if blk == nil {
		return nil, errors.New("CA certificate: no PEM CERTIFICATE block found")
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !ca.IsCA || (ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0) {
		return nil, errors.New("CA certificate: it is not a CA certificate (basicConstraints CA:TRUE and keyCertSign are needed)")
	}
	key, err := parsePrivateKey(caKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if !publicKeysEqual(key.Public(), ca.PublicKey) {
		return nil, errors.New("CA key: it does not belong to the CA certificate")
	}
	return &Issuer{ca: ca, caDER: blk.Bytes, caKey: key, opts: opts,
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes})}, nil
}

// CA returns the CA certificate.
func (is *Issuer) CA() *x509.Certificate { return is.ca }

func firstPEM(b []byte, types ...string) *pem.Block {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil
		}
		for _, t := range types {
			if blk.Type == t {
				return blk
			}
		}
	}
}

func parsePrivateKey(b []byte) (crypto.Signer, error) {
	blk := firstPEM(b, "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
	if blk == nil {
		if firstPEM(b, "ENCRYPTED PRIVATE KEY") != nil {
			return nil, errors.New("the key is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)")
		}
		return nil, errors.New("no PEM PRIVATE KEY block found")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}

// issued is one device's certificate and key.
type issued struct {
	certDER, keyDER []byte
	is              *Issuer
}

// Issue makes a fresh key pair and a certificate for the device with file id cn. It returns
// the certificate and the PKCS#8 private key, both DER.
func (is *Issuer) Issue(cn string) (certDER, keyDER []byte, err error) {
	c, err := is.issue(cn)
	if err != nil {
		return nil, nil, err
	}
	return c.certDER, c.keyDER, nil
}

func (is *Issuer) issue(cn string) (*issued, error) {
	var key crypto.Signer
	var err error
	usage := x509.KeyUsageDigitalSignature
	switch is.opts.KeyType {
	case KeyRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		usage |= x509.KeyUsageKeyEncipherment
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	serial := make([]byte, 16)
	rand.Read(serial)
	serial[0] &= 0x7F
	serial[0] |= 0x40 // 16 bytes, positive
	now := is.opts.Now().UTC().Truncate(time.Second)
	subj := is.opts.Subject
	subj.CommonName = cn
	subj.Names, subj.ExtraNames = nil, nil
	tmpl := &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial),
		Subject:               subj,
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.AddDate(0, 0, is.opts.Days),
		KeyUsage:              usage,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.ca, key.Public(), is.caKey)
	if err != nil {
		return nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &issued{certDER: der, keyDER: kd, is: is}, nil
}

// value returns what a config x509 row stores: PEM text for the string encoding, DER bytes for
// binary.
func (c *issued) value(r *nvscsv.MfgConfigRow) string {
	var der []byte
	var typ string
	switch r.Type {
	case nvscsv.TypeX509Cert:
		der, typ = c.certDER, "CERTIFICATE"
	case nvscsv.TypeX509Key:
		der, typ = c.keyDER, "PRIVATE KEY"
	default:
		if r.Encoding != "binary" {
			return string(c.is.caPEM)
		}
		der = c.is.caDER
	}
	if r.Encoding == "binary" {
		return string(der)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// KeyPEM returns a PKCS#8 DER private key as PEM text.
func KeyPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// CertPEM returns a DER certificate as PEM text.
func CertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
