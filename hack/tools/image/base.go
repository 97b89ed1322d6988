package main

import (
	"archive/tar"
	"bytes"
	"time"
)

// base stands in for a base image the Dockerfile names: registries are not
// reachable everywhere `make image` runs, and a pulled base would change
// under a fixed tag. It holds what the final image relies on.
type base struct {
	// files are the base layer's entries, parents before children.
	files []file
	// env and workingDir are the base image's config.
	env        []string
	workingDir string
}

type file struct {
	name     string
	mode     int64 // permission bits (and sticky)
	uid, gid int
	dir      bool
	data     string
}

// bases are the base images `make image` can stand in for.
var bases = map[string]base{
	// What distroless/static:nonroot gives that daemonguard uses: the
	// nonroot user and group (so the uid has a name and a home), a
	// world-writable /tmp, and its PATH and working directory. Not copied:
	// CA certificates (serve only talks to the API server, with the
	// in-cluster CA from its service account; no system roots), tzdata
	// (no time zones are loaded), and Debian's package metadata.
	"gcr.io/distroless/static-debian12:nonroot": {
		files: []file{
			{name: "etc/", dir: true, mode: 0o755},
			{name: "etc/group", mode: 0o644, data: "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"},
			{name: "etc/passwd", mode: 0o644, data: "root:x:0:0:root:/root:/sbin/nologin\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
			{name: "home/", dir: true, mode: 0o755},
			{name: "home/nonroot/", dir: true, mode: 0o700, uid: 65532, gid: 65532},
			{name: "root/", dir: true, mode: 0o700},
			{name: "tmp/", dir: true, mode: 0o1777},
		},
		env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		workingDir: "/home/nonroot",
	},
}

// tarStream writes files as a tar stream whose bytes depend only on them and
// on mtime: no host owners, modes or clocks leak in.
func tarStream(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: mtime, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.data)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
