package cli

import (
	"crypto/x509/pkix"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/nvskit/nvskit/internal/fsutil"
	"github.com/nvskit/nvskit/mfg"
)

// caFlags are the options of the commands that issue a certificate per device (mfg generate,
// station): the CA that signs them, the device key type and the certificates' validity and
// subject.
type caFlags struct {
	caCert, caKey, keyType              string
	days                                int
	subjO, subjOU, subjC, subjST, subjL string
}

func (f *caFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.caCert, "ca-cert", "", "CA certificate (PEM) that signs a certificate for every device")
	fl.StringVar(&f.caKey, "ca-key", "", "the CA's private key (PEM)")
	fl.StringVar(&f.keyType, "key-type", "ecdsa-p256", "device key type: ecdsa-p256 or rsa2048")
	fl.IntVar(&f.days, "cert-days", 3650, "device certificate validity in days")
	fl.StringVar(&f.subjO, "subject-o", "", "device certificate subject organization (O)")
	fl.StringVar(&f.subjOU, "subject-ou", "", "device certificate subject organizational unit (OU)")
	fl.StringVar(&f.subjC, "subject-c", "", "device certificate subject country (C)")
	fl.StringVar(&f.subjST, "subject-st", "", "device certificate subject state or province (ST)")
	fl.StringVar(&f.subjL, "subject-l", "", "device certificate subject locality (L)")
}

// issuer reads the CA and returns the issuer of the device certificates, or nil when neither
// --ca-cert nor --ca-key is given. Both PEM files are read through a limit, regular files only.
func (f *caFlags) issuer(env *Env) (*mfg.Issuer, error) {
	if f.caCert == "" && f.caKey == "" {
		return nil, nil
	}
	if f.caCert == "" || f.caKey == "" {
		return nil, usagef("--ca-cert and --ca-key go together")
	}
	if f.days <= 0 {
		return nil, usagef("--cert-days %d: must be positive", f.days)
	}
	certPEM, err := readInput(env, f.caCert, fsutil.MaxPartitionTable, "a PEM certificate")
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	keyPEM, err := readInput(env, f.caKey, fsutil.MaxPartitionTable, "a PEM private key")
	if err != nil {
		return nil, fmt.Errorf("--ca-key: %w", err)
	}
	subj := pkix.Name{}
	for _, p := range []struct {
		v   string
		dst *[]string
	}{{f.subjO, &subj.Organization}, {f.subjOU, &subj.OrganizationalUnit}, {f.subjC, &subj.Country},
		{f.subjST, &subj.Province}, {f.subjL, &subj.Locality}} {
		if p.v != "" {
			*p.dst = []string{p.v}
		}
	}
	is, err := mfg.NewIssuer(certPEM, keyPEM, mfg.IssuerOptions{KeyType: mfg.KeyType(f.keyType), Days: f.days, Subject: subj})
	if err != nil {
		return nil, usageError{err}
	}
	return is, nil
}
