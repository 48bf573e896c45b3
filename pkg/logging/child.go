package logging

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Reemit reads a child process's output line by line until r ends, copies
// each line to raw (if not nil) and writes it again through log: a JSON
// line (the child's own pkg/logging, in JSON) or a key=value line (slog's
// or logrus's text format, e.g. containerd's shims) keeps its time, level,
// message and attributes; any other line becomes the message of an INFO
// line.
func Reemit(r io.Reader, log *slog.Logger, raw io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	h := log.Handler()
	for sc.Scan() {
		line := sc.Text()
		if raw != nil {
			io.WriteString(raw, line+"\n")
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		rec := parseLine(line)
		if h.Enabled(context.Background(), rec.Level) {
			_ = h.Handle(context.Background(), rec)
		}
	}
}

func parseLine(line string) slog.Record {
	var fields []Field
	if strings.HasPrefix(line, "{") {
		fields, _ = ParseJSON(line)
	}
	if fields == nil {
		fields, _ = ParseText(line)
	}
	var t time.Time
	level, msg, haveMsg := slog.LevelInfo, "", false
	var attrs []slog.Attr
	for _, f := range fields {
		switch f.Key {
		case "time":
			if v, err := time.Parse(time.RFC3339Nano, f.Value); err == nil {
				t = v
				continue
			}
		case "level":
			if l, ok := levelOf(f.Value); ok {
				level = l
				continue
			}
		case "msg":
			msg, haveMsg = f.Value, true
			continue
		}
		attrs = append(attrs, slog.String(f.Key, f.Value))
	}
	if !haveMsg {
		msg, attrs = line, nil
	}
	if t.IsZero() {
		t = time.Now()
	}
	rec := slog.NewRecord(t, level, msg, 0)
	rec.AddAttrs(attrs...)
	return rec
}

func levelOf(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug", "trace":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error", "fatal", "panic":
		return slog.LevelError, true
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err == nil {
		return l, true
	}
	return 0, false
}

// Field is one key and value of a parsed line.
type Field struct{ Key, Value string }

// ParseJSON parses a JSON object line into its fields, sorted by key but
// for time, level and msg first; values that are not strings are kept as
// JSON.
func ParseJSON(line string) ([]Field, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	first := map[string]int{"time": 0, "level": 1, "msg": 2}
	sort.Slice(keys, func(i, j int) bool {
		a, aok := first[keys[i]]
		b, bok := first[keys[j]]
		switch {
		case aok && bok:
			return a < b
		case aok != bok:
			return aok
		}
		return keys[i] < keys[j]
	})
	fields := make([]Field, 0, len(keys))
	for _, k := range keys {
		v := string(m[k])
		var s string
		if json.Unmarshal(m[k], &s) == nil {
			v = s
		}
		fields = append(fields, Field{k, v})
	}
	return fields, nil
}

// ParseText parses a line of key=value pairs (slog's text format, and
// logrus's): a value is a bare word or a Go-quoted string. It fails unless
// the whole line is such pairs.
func ParseText(line string) ([]Field, error) {
	var fields []Field
	s := line
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		var key string
		if strings.HasPrefix(s, `"`) { // slog quotes keys with spaces
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, err
			}
			key, _ = strconv.Unquote(q)
			s = s[len(q):]
			if !strings.HasPrefix(s, "=") {
				return nil, errors.New("not key=value")
			}
		} else {
			eq := strings.IndexByte(s, '=')
			if eq <= 0 || strings.ContainsAny(s[:eq], " \"") {
				return nil, errors.New("not key=value")
			}
			key = s[:eq]
			s = s[eq:]
		}
		s = s[1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, err
			}
			if val, err = strconv.Unquote(q); err != nil {
				return nil, err
			}
			s = s[len(q):]
			if s != "" && s[0] != ' ' {
				return nil, errors.New("no space after a quoted value")
			}
		} else {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			val = s[:end]
			if strings.ContainsRune(val, '"') {
				return nil, errors.New("a quote inside a bare value")
			}
			s = s[end:]
		}
		fields = append(fields, Field{key, val})
	}
	if len(fields) == 0 {
		return nil, errors.New("empty line")
	}
	return fields, nil
}
