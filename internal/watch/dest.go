package watch

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Destinations of the log line: "log json /var/log/coredns/caa.json" writes the block's lines to
// a file, "log json unix:/run/vector/caa.sock" to a Unix stream socket, so that JSON lines never
// mix with CoreDNS's text log on standard output (issue 25). Without one, text lines go to
// CoreDNS's log and JSON lines to standard output.

// DestError is a destination that cannot be opened, and where the Corefile names it.
type DestError struct {
	Pos string // "file:line"
	Err error
}

func (e *DestError) Error() string { return e.Pos + ": " + e.Err.Error() }
func (e *DestError) Unwrap() error { return e.Err }

// Join adds the block to the instance of the Corefile load being read, which opens the block's
// destination at start-up, once for all the blocks naming it. A relative destination is taken
// from root (the server block's root directive) or else the working directory. It fails with a
// *DestError if the destination could not be opened.
func (l *Log) Join(i *Instance, root string) error {
	if isFileDest(l.dest) {
		key, err := destKey(l.dest, root)
		if err == nil {
			err = checkDest(key)
		}
		if err != nil {
			return &DestError{Pos: l.cfg.DestPos, Err: err}
		}
		l.dest = key
	}
	if i.pos == nil {
		i.pos = map[string]string{}
	}
	l.inst = i
	i.blocks = append(i.blocks, l)
	if key := l.dest; isFileDest(key) {
		if _, seen := i.pos[key]; !seen {
			i.pos[key] = l.cfg.DestPos
			i.files = append(i.files, key)
		}
	}
	return nil
}

// destination returns the key of where the block's lines go.
func (c *Config) destination() string {
	switch {
	case c.Dest != "":
		return c.Dest
	case c.JSON:
		return destStdout
	}
	return destCoreDNS
}

// destKey returns the key of a destination as written on a log line: "unix:" and the socket's
// absolute path, or the file's absolute path. A relative path is taken from root (the server
// block's root directive) or else CoreDNS's working directory, as file does for zone files.
func destKey(arg, root string) (string, error) {
	path, socket := strings.CutPrefix(arg, "unix:")
	if path == "" {
		return "", fmt.Errorf("log destination %q names no path; write a file such as /var/log/coredns/caa.json, or unix:/run/collector.sock", arg)
	}
	if !filepath.IsAbs(path) && root != "" {
		path = filepath.Join(root, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("log destination %q: %v", arg, err)
	}
	if socket {
		return "unix:" + abs, nil
	}
	return abs, nil
}

// isFileDest reports whether a destination key names a file or socket, opened per instance.
func isFileDest(key string) bool { return key != destCoreDNS && key != destStdout }

// checkDest tells, while the Corefile is read, why the destination could not be opened at
// start-up. It creates nothing: a file that does not exist yet is made at start-up, in a
// directory that must exist and be writable.
func checkDest(key string) error {
	if path, ok := strings.CutPrefix(key, "unix:"); ok {
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			return fmt.Errorf("log socket %s: %v; start the collector that listens there first, or write the log to a file", path, unwrapPath(err))
		case fi.Mode()&fs.ModeSocket == 0:
			return fmt.Errorf("log socket %s is not a socket; name the Unix socket the collector listens on, or drop unix: to write to a file", path)
		}
		return nil
	}
	fi, err := os.Stat(key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(key)
		if di, err := os.Stat(dir); err != nil || !di.IsDir() {
			return fmt.Errorf("log file %s: directory %s does not exist; create it (writable by CoreDNS's user) or name a file in an existing directory", key, dir)
		}
		if err := syscall.Access(dir, 2|1); err != nil { // W_OK|X_OK
			return fmt.Errorf("log file %s: cannot create it in %s (%v); make the directory writable by CoreDNS's user, or name another file", key, dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("log file %s: %v; name a file CoreDNS's user can write", key, unwrapPath(err))
	case fi.IsDir():
		return fmt.Errorf("log file %s is a directory; name a file in it, such as %s", key, filepath.Join(key, "caapolicy.json"))
	case fi.Mode()&fs.ModeNamedPipe != 0:
		return nil // opened at start-up, when its reader runs
	}
	f, err := os.OpenFile(key, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("log file %s cannot be written (%v); give CoreDNS's user write access to it, or name another file", key, unwrapPath(err))
	}
	f.Close()
	return nil
}

// unwrapPath drops the operation and path from an *fs.PathError, which the message names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openDest opens a destination at start-up: a file is created if needed and appended to; a
// socket is connected.
func openDest(key string) (io.WriteCloser, error) {
	if path, ok := strings.CutPrefix(key, "unix:"); ok {
		s := &socketWriter{path: path}
		if err := s.dial(); err != nil {
			return nil, fmt.Errorf("log socket %s: %v; start the collector that listens there first, or write the log to a file", path, err)
		}
		return s, nil
	}
	f, err := os.OpenFile(key, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("log file %s cannot be opened (%v); give CoreDNS's user write access to it, or name another file", key, unwrapPath(err))
	}
	return f, nil
}

// socketWriter writes to a Unix stream socket, connecting again after the collector went away
// (at most once a second); lines written while it is away are lost, and the sink warns once.
type socketWriter struct {
	path string
	mu   sync.Mutex
	conn net.Conn
	last time.Time // the last attempt to connect
}

func (s *socketWriter) dial() error {
	s.last = time.Now()
	c, err := net.DialTimeout("unix", s.path, time.Second)
	if err != nil {
		return unwrapNet(err)
	}
	s.conn = c
	return nil
}

// unwrapNet drops the operation and address from a *net.OpError, which the message names already,
// and the system call's name.
func unwrapNet(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = unwrapPath(oe.Err)
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

func (s *socketWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		if time.Since(s.last) < time.Second {
			return 0, fmt.Errorf("not connected")
		}
		if err := s.dial(); err != nil {
			return 0, err
		}
	}
	s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	n, err := s.conn.Write(p)
	if err != nil {
		s.conn.Close()
		s.conn = nil
		err = unwrapNet(err)
	}
	return n, err
}

func (s *socketWriter) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
