// goclient: an ordinary Go program for the end-to-end tests.  It calls an
// HTTPS API with net/http (Go's own TLS, its own system calls), trusting
// the CA in SSL_CERT_FILE, and prints "code=STATUS body=BODY" or
// "err=ERROR".  The resolver is Go's choice, or GODEBUG=netdns=go|cgo.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	c := &http.Client{Timeout: 20 * time.Second}
	r, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Printf("err=%v\n", err)
		os.Exit(1)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	fmt.Printf("code=%d body=%s\n", r.StatusCode, b)
}
