package logging

import (
	"context"
	"log/slog"
	"sync"
)

// componentHandler gives every record exactly one component attribute,
// written first after the message: the record's own, else the last one
// named by With (a second With(Key, …) replaces the first), else the one
// of the caller's stack. A line of kite's own logger (component kite) is
// given the component whose code logs it when the stack has one (kite's
// packages are in the table: server/tunnel logs as tunnel).
type componentHandler struct {
	root  slog.Handler // the format handler, without attributes
	comp  string       // "" until With names one
	ops   []op         // With and WithGroup after the component
	inner slog.Handler // root, comp, ops; nil while comp is ""
	cache *sync.Map    // component → root with that component (no ops)
}

// op is one WithAttrs (attrs) or WithGroup (group) call.
type op struct {
	attrs []slog.Attr
	group string
}

func newComponentHandler(root slog.Handler) *componentHandler {
	return &componentHandler{root: root, cache: &sync.Map{}}
}

func (h *componentHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.root.Enabled(ctx, l)
}

func (h *componentHandler) grouped() bool {
	for _, o := range h.ops {
		if o.group != "" {
			return true
		}
	}
	return false
}

func (h *componentHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	n := *h
	rest := attrs
	if !h.grouped() {
		rest = make([]slog.Attr, 0, len(attrs))
		for _, a := range attrs {
			if c, ok := componentOf(a); ok {
				n.comp = c
				continue
			}
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 {
		n.ops = append(append([]op(nil), h.ops...), op{attrs: rest})
	}
	n.inner = n.build(n.comp)
	return &n
}

func (h *componentHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.ops = append(append([]op(nil), h.ops...), op{group: name})
	n.inner = n.build(n.comp)
	return &n
}

// build returns root with the component c, then the ops; nil for no c.
func (h *componentHandler) build(c string) slog.Handler {
	if c == "" {
		return nil
	}
	var r slog.Handler
	if v, ok := h.cache.Load(c); ok {
		r = v.(slog.Handler)
	} else {
		r = h.root.WithAttrs([]slog.Attr{slog.String(Key, c)})
		h.cache.Store(c, r)
	}
	for _, o := range h.ops {
		if o.group != "" {
			r = r.WithGroup(o.group)
		} else {
			r = r.WithAttrs(o.attrs)
		}
	}
	return r
}

func (h *componentHandler) Handle(ctx context.Context, r slog.Record) error {
	comp := h.comp
	var own string
	r.Attrs(func(a slog.Attr) bool {
		if c, ok := componentOf(a); ok {
			own = c
		}
		return true
	})
	if own != "" {
		comp = own
		r = withoutComponent(r)
	}
	if comp == Default && own == "" {
		// kite's own logger: the component whose code runs, if any.
		if owner, _ := stack(); owner != "" {
			comp = owner
		}
	}
	if comp == h.comp && h.inner != nil {
		return h.inner.Handle(ctx, r)
	}
	if comp == "" {
		comp = fromStack()
	}
	return h.build(comp).Handle(ctx, r)
}

func componentOf(a slog.Attr) (string, bool) {
	if a.Key != Key {
		return "", false
	}
	s := a.Value.Resolve().String()
	return s, s != ""
}

func withoutComponent(r slog.Record) slog.Record {
	n := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != Key {
			n.AddAttrs(a)
		}
		return true
	})
	return n
}
