package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// finalStage is what the Dockerfile's last stage says about the image: the
// one source of truth for the user, entrypoint, command and labels that
// `make image` writes too.
type finalStage struct {
	// From is the base image reference; it must be one in bases.
	From string
	// Binary is where COPY puts the daemonguard binary.
	Binary     string
	User       string
	Entrypoint []string
	Cmd        []string
	Labels     map[string]string
}

// parseDockerfile reads the final stage of the Dockerfile at path, with
// buildArgs as `docker build --build-arg` would set them. It refuses any
// instruction it does not implement, so the Dockerfile cannot grow a step
// that `make image` silently leaves out.
func parseDockerfile(path string, buildArgs map[string]string) (*finalStage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Each FROM starts a stage; only the last one is the image.
	lines := logicalLines(string(data))
	first := -1
	for n, line := range lines {
		if strings.EqualFold(strings.Fields(line)[0], "FROM") {
			first = n
		}
	}
	if first < 0 {
		return nil, fmt.Errorf("%s: no FROM", path)
	}
	fields := strings.Fields(lines[first])[1:]
	for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
		fields = fields[1:] // --platform
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("%s: FROM without an image", path)
	}
	stage := &finalStage{From: fields[0], Labels: map[string]string{}}
	args := map[string]string{}
	for n := first + 1; n < len(lines); n++ {
		cmd, rest, _ := strings.Cut(lines[n], " ")
		cmd, rest = strings.ToUpper(cmd), strings.TrimSpace(rest)
		if err := stage.apply(cmd, rest, args, buildArgs); err != nil {
			return nil, fmt.Errorf("%s: instruction %d (%s): %w", path, n+1, cmd, err)
		}
	}
	switch {
	case stage.Binary == "":
		return nil, fmt.Errorf("%s: the final stage copies no binary", path)
	case len(stage.Entrypoint) == 0 || stage.User == "":
		return nil, fmt.Errorf("%s: the final stage needs USER and ENTRYPOINT", path)
	}
	return stage, nil
}

func (s *finalStage) apply(cmd, rest string, args, buildArgs map[string]string) error {
	switch cmd {
	case "ARG":
		name, def, _ := strings.Cut(rest, "=")
		args[name] = def
		if v, ok := buildArgs[name]; ok {
			args[name] = v
		}
	case "LABEL":
		words, err := shellWords(rest, args)
		if err != nil {
			return err
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return fmt.Errorf("label %q is not key=value", w)
			}
			s.Labels[k] = v
		}
	case "USER":
		words, err := shellWords(rest, args)
		if err != nil || len(words) != 1 {
			return fmt.Errorf("want one user, got %q (%v)", rest, err)
		}
		s.User = words[0]
	case "ENTRYPOINT", "CMD":
		var v []string
		if err := json.Unmarshal([]byte(rest), &v); err != nil {
			return fmt.Errorf("want the exec (JSON) form: %w", err)
		}
		if cmd == "CMD" {
			s.Cmd = v
		} else {
			s.Entrypoint, s.Cmd = v, nil // as docker: ENTRYPOINT resets an inherited CMD
		}
	case "COPY":
		f := strings.Fields(rest)
		if len(f) != 3 || !strings.HasPrefix(f[0], "--from=") || s.Binary != "" {
			return fmt.Errorf("only one `COPY --from=STAGE SRC DST` of the binary is implemented")
		}
		s.Binary = f[2]
	default:
		return fmt.Errorf("not implemented by hack/tools/image: add it there or keep it out of the final stage")
	}
	return nil
}

// logicalLines joins continuation lines and drops comments and blank lines,
// as the Dockerfile parser does.
func logicalLines(src string) []string {
	var out []string
	var cur strings.Builder
	for _, raw := range strings.Split(src, "\n") {
		line := strings.TrimSpace(raw)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(line)
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	return out
}

// shellWords splits s as the Dockerfile does for LABEL and USER: double
// quotes (with backslash escapes and $VAR / ${VAR} expansion), single quotes
// (literal), bare words (expanded).
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
			continue
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s):
					i++
					w.WriteByte(s[i])
				case s[i] == '$':
					n, err := expand(s[i:], vars, &w)
					if err != nil {
						return nil, err
					}
					i += n - 1
				default:
					w.WriteByte(s[i])
				}
			}
			if i == len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
		case c == '$':
			n, err := expand(s[i:], vars, &w)
			if err != nil {
				return nil, err
			}
			i += n - 1
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
		default:
			w.WriteByte(c)
		}
		inWord = true
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// expand writes the value of the variable s starts with ($NAME or ${NAME})
// and returns how many bytes it used. An undeclared variable is an error:
// docker would expand it to nothing, which is never what a label means.
func expand(s string, vars map[string]string, w *strings.Builder) (int, error) {
	var name string
	var n int
	if strings.HasPrefix(s, "${") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return 0, fmt.Errorf("unterminated ${ in %q", s)
		}
		name, n = s[2:end], end+1
	} else {
		n = 1
		for n < len(s) && (s[n] == '_' || s[n] >= 'A' && s[n] <= 'Z' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= '0' && s[n] <= '9') {
			n++
		}
		name = s[1:n]
	}
	v, ok := vars[name]
	if !ok {
		return 0, fmt.Errorf("$%s is not an ARG of the final stage", name)
	}
	w.WriteString(v)
	return n, nil
}
