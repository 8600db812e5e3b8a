package app

import (
	"crypto/x509"
	"fmt"
	"os"
)

// destinationRoots is the certificate pool rtmps:// simulcast destinations
// are checked against: the system's roots plus --simulcast-ca; nil (the
// system's roots alone) when no file is given.
func destinationRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--simulcast-ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--simulcast-ca %s: no PEM certificate in it", caFile)
	}
	return pool, nil
}
