// goclient: an ordinary Go program for the end-to-end tests.  It calls an
// HTTPS API with net/http (Go's own TLS, its own system calls), trusting
// the CA in SSL_CERT_FILE, and prints "code=STATUS body=BODY" or
// "err=ERROR".  The resolver is Go's choice, or GODEBUG=netdns=go|cgo.
// goclient URL [JSON]: GET, or POST of JSON.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	c := &http.Client{Timeout: 20 * time.Second}
	var r *http.Response
	var err error
	if len(os.Args) > 2 {
		r, err = c.Post(os.Args[1], "application/json",
			strings.NewReader(os.Args[2]))
	} else {
		r, err = c.Get(os.Args[1])
	}
	if err != nil {
		fmt.Printf("err=%v\n", err)
		os.Exit(1)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	fmt.Printf("code=%d body=%s\n", r.StatusCode, b)
}
