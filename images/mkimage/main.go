// Command mkimage writes an OCI image layout tarball from a folder.
//
//	mkimage -name kite.local/busybox:1.35 -rootfs DIR -entrypoint /bin/sh -o busybox.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kite-project/kite/images/oci"
)

func main() {
	name := flag.String("name", "", "image reference, e.g. kite.local/pause:1")
	rootfs := flag.String("rootfs", "", "folder that becomes the image's layer")
	entrypoint := flag.String("entrypoint", "", "entrypoint, words separated by spaces")
	cmd := flag.String("cmd", "", "default arguments, words separated by spaces")
	out := flag.String("o", "", "output tarball")
	arch := flag.String("arch", "", "the image's architecture, as GOARCH (default: this machine's)")
	flag.Parse()
	if *name == "" || *rootfs == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "mkimage: -name, -rootfs and -o are required")
		os.Exit(2)
	}
	img := oci.Image{Name: *name, RootFS: *rootfs, Arch: *arch, Entrypoint: strings.Fields(*entrypoint), Cmd: strings.Fields(*cmd),
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	f, err := os.Create(*out + ".tmp")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	if err := oci.Write(f, img); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	if err := os.Rename(*out+".tmp", *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
