package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRepositoryDockerfile: the real Dockerfile parses, with build args
// reaching the labels and the defaults where none are given.
func TestRepositoryDockerfile(t *testing.T) {
	s, err := parseDockerfile(filepath.Join("..", "..", "..", "Dockerfile"), map[string]string{"VERSION": "v9.8.7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := bases[s.From]; !ok {
		t.Errorf("base %s has no stand-in", s.From)
	}
	if s.Labels["org.opencontainers.image.version"] != "v9.8.7" || s.Labels["org.opencontainers.image.revision"] != "unknown" {
		t.Errorf("labels %v: want the VERSION build arg and REVISION's default", s.Labels)
	}
	if s.Binary == "" || !reflect.DeepEqual(s.Entrypoint, []string{s.Binary}) {
		t.Errorf("entrypoint %v does not run the copied binary %s", s.Entrypoint, s.Binary)
	}
}

func TestParseDockerfile(t *testing.T) {
	const head = "FROM golang AS build\nRUN go build\nFROM base\n"
	const tail = "COPY --from=build /out/x /x\nUSER 1:2\nENTRYPOINT [\"/x\"]\n"
	tests := map[string]struct {
		src     string
		want    *finalStage
		wantErr string
	}{
		"labels, quoting, continuation, expansion": {
			src: head + "ARG V=dev\nARG R\n# a comment\nLABEL a=\"x y\" \\\n  b=${V}-$R 'c'='$V' d=\"q\\\"\"\n" + tail + "CMD [\"serve\"]\n",
			want: &finalStage{From: "base", Binary: "/x", User: "1:2", Entrypoint: []string{"/x"}, Cmd: []string{"serve"},
				Labels: map[string]string{"a": "x y", "b": "dev-", "c": "$V", "d": `q"`}},
		},
		"ENTRYPOINT resets CMD": {
			src:  head + "CMD [\"a\"]\n" + tail,
			want: &finalStage{From: "base", Binary: "/x", User: "1:2", Entrypoint: []string{"/x"}, Labels: map[string]string{}},
		},
		"RUN in the final stage":     {src: head + "RUN true\n" + tail, wantErr: "not implemented"},
		"ENV in the final stage":     {src: head + "ENV A=b\n" + tail, wantErr: "not implemented"},
		"shell-form ENTRYPOINT":      {src: head + "COPY --from=build /out/x /x\nUSER 1\nENTRYPOINT /x\n", wantErr: "exec (JSON) form"},
		"undeclared variable":        {src: head + "LABEL a=$NOPE\n" + tail, wantErr: "$NOPE is not an ARG"},
		"second COPY":                {src: head + "COPY --from=build /a /a\n" + tail, wantErr: "only one"},
		"COPY from the context":      {src: head + "COPY x /x\nUSER 1\nENTRYPOINT [\"/x\"]\n", wantErr: "only one"},
		"no USER":                    {src: head + "COPY --from=build /out/x /x\nENTRYPOINT [\"/x\"]\n", wantErr: "needs USER"},
		"label without value":        {src: head + "LABEL a\n" + tail, wantErr: "not key=value"},
		"unterminated quote":         {src: head + "LABEL a=\"b\n" + tail, wantErr: "unterminated"},
		"the last FROM is the image": {src: head + tail + "FROM --platform=linux/amd64 other AS x\n", wantErr: "copies no binary"},
		"no FROM":                    {src: "ARG A\n", wantErr: "no FROM"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Dockerfile")
			if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := parseDockerfile(path, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
