// Package logging is kite's one log stream: every line kite prints, whatever
// library wrote it (kite's slog, klog from the Kubernetes components,
// logrus from kine and remotedialer, grpc's logger, containerd's child
// process), goes through one slog.Handler, in one format (text or JSON),
// with a `component` attribute. See docs/logging.md.
//
// A line gets its component, in this order: from the logger it was written
// with (Component; a contextual klog logger from KlogContext), else from
// the goroutine's stack (the outermost frame in a package of the table in
// caller.go), else "kite".
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Key is the attribute naming a line's component.
const Key = "component"

// Default is the component of kite's own lines and of lines no rule
// places.
const Default = "kite"

// Formats are the values of --log-format.
var Formats = []string{"text", "json"}

// Levels are the values of --log-level.
var Levels = []string{"debug", "info", "warn", "error"}

// Options are the logging flags.
type Options struct {
	Format  string // text (default) or json
	Level   string // debug, info (default), warn, error
	V       int    // klog's verbosity (-v)
	VModule string // klog's per-file verbosity (--vmodule)
	// Component, if set, is the component of every line no logger names
	// otherwise (a child process that is one component).
	Component string
}

// Validate checks the flags' values.
func (o Options) Validate() error {
	if _, err := parseFormat(o.Format); err != nil {
		return err
	}
	if _, err := parseLevel(o.Level); err != nil {
		return err
	}
	if o.V < 0 {
		return fmt.Errorf("--v %d: give a verbosity of 0 or more", o.V)
	}
	return nil
}

func parseFormat(s string) (string, error) {
	switch strings.ToLower(s) {
	case "", "text":
		return "text", nil
	case "json":
		return "json", nil
	}
	return "", fmt.Errorf("--log-format %q: give one of %s", s, strings.Join(Formats, ", "))
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level %q: give one of %s", s, strings.Join(Levels, ", "))
}

// NewHandler returns the handler writing lines to w in o's format and
// level. Its lines without a component get one from the caller's stack.
func NewHandler(w io.Writer, o Options) (slog.Handler, error) {
	format, err := parseFormat(o.Format)
	if err != nil {
		return nil, err
	}
	level, err := parseLevel(o.Level)
	if err != nil {
		return nil, err
	}
	ho := &slog.HandlerOptions{Level: level}
	var root slog.Handler
	if format == "json" {
		root = slog.NewJSONHandler(w, ho)
	} else {
		root = slog.NewTextHandler(w, ho)
	}
	return newComponentHandler(root), nil
}

// New returns a logger writing to w; its lines get their component from
// the caller's stack until Component names one.
func New(w io.Writer, o Options) (*slog.Logger, error) {
	h, err := NewHandler(w, o)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// Component returns log naming its lines' component; it replaces the
// component log had.
func Component(log *slog.Logger, name string) *slog.Logger {
	return log.With(Key, name)
}

// Setup makes the one log stream on stderr for the whole process: slog's
// default logger (and so the standard library's log package), klog, logrus
// and grpc's logger all write through it. It returns the logger of kite's
// own lines (component kite). Call it once, before any component starts.
func Setup(o Options) (*slog.Logger, error) {
	return SetupWriter(os.Stderr, o)
}

// SetupWriter is Setup writing to w.
func SetupWriter(w io.Writer, o Options) (*slog.Logger, error) {
	root, err := New(w, o)
	if err != nil {
		return nil, err
	}
	if o.Component != "" {
		root = Component(root, o.Component)
	}
	slog.SetDefault(root)
	if err := redirectKlog(root, o); err != nil {
		return nil, err
	}
	redirectLogrus(root)
	redirectGRPC(root)
	// kite's child processes log at the same level.
	if o.Level != "" {
		os.Setenv(EnvLevel, o.Level)
	}
	if o.Component != "" {
		return root, nil
	}
	return Component(root, Default), nil
}

// Env are the environment variables of the flags, which also pass the
// format on to kite's child processes.
const (
	EnvFormat = "KITE_LOG_FORMAT"
	EnvLevel  = "KITE_LOG_LEVEL"
)

// FromEnv returns the options the environment names (for a child
// process).
func FromEnv(component string) Options {
	return Options{Format: os.Getenv(EnvFormat), Level: os.Getenv(EnvLevel), Component: component}
}
