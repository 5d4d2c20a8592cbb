package luaapp

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The io library of a script reaches its application's folder only: io.open and io.lines
// open files through an os.Root of that folder, which refuses absolute paths, ".." and
// symbolic links that lead out of it. There is no io.popen, io.tmpfile, io.read or
// io.write (no standard streams). A file may not grow beyond the state's string limit, and
// a state may hold maxOpenFiles open at once (files a script forgets are closed with its
// state: gopher-lua has no finalizers).

const maxOpenFiles = 32

type luaFile struct {
	f      *os.File
	r      *bufio.Reader
	w      bool
	size   int64 // bytes written beyond which writes fail
	closed bool
}

const fileTypeName = "FILE*"

func (st *state) openIO() {
	L := st.L
	mt := L.NewTypeMetatable(fileTypeName)
	methods := L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"read":    st.fileRead,
		"write":   st.fileWrite,
		"lines":   st.fileLines,
		"close":   st.fileClose,
		"flush":   func(L *lua.LState) int { checkFile(L, 1); L.Push(lua.LTrue); return 1 },
		"seek":    fileSeek,
		"setvbuf": func(L *lua.LState) int { checkFile(L, 1); L.Push(lua.LTrue); return 1 },
	})
	mt.RawSetString("__index", methods)
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		if f := checkFile(L, 1); f.closed {
			L.Push(lua.LString("file (closed)"))
		} else {
			L.Push(lua.LString("file (" + f.f.Name() + ")"))
		}
		return 1
	}))
	io := L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
		"open":  st.ioOpen,
		"lines": st.ioLines,
		"close": st.fileClose,
		"type": func(L *lua.LState) int {
			ud, ok := L.Get(1).(*lua.LUserData)
			if f, isFile := ud.Value.(*luaFile); ok && isFile {
				if f.closed {
					L.Push(lua.LString("closed file"))
				} else {
					L.Push(lua.LString("file"))
				}
				return 1
			}
			L.Push(lua.LNil)
			return 1
		},
	})
	L.G.Global.RawSetString("io", io)
}

// folder is the application's folder, for the io library.
func (st *state) folder() (*os.Root, error) {
	if st.app.folder == nil {
		return nil, errors.New("the application's folder cannot be opened")
	}
	return st.app.folder, nil
}

func (st *state) ioOpen(L *lua.LState) int {
	name := L.CheckString(1)
	mode := L.OptString(2, "r")
	flag := 0
	switch strings.TrimSuffix(mode, "b") {
	case "r":
		flag = os.O_RDONLY
	case "w":
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	case "a":
		flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	case "r+":
		flag = os.O_RDWR
	case "w+":
		flag = os.O_RDWR | os.O_CREATE | os.O_TRUNC
	case "a+":
		flag = os.O_RDWR | os.O_CREATE | os.O_APPEND
	default:
		L.ArgError(2, "invalid mode")
	}
	root, err := st.folder()
	if err != nil {
		return ioFail(L, name, err)
	}
	if len(st.open) >= maxOpenFiles {
		return ioFail(L, name, errors.New("too many open files"))
	}
	f, err := root.OpenFile(strings.TrimPrefix(name, "./"), flag, 0o644)
	if err != nil {
		return ioFail(L, name, err)
	}
	lf := &luaFile{f: f, r: bufio.NewReader(f), w: flag != os.O_RDONLY, size: int64(st.maxString)}
	if st.open == nil {
		st.open = map[*luaFile]struct{}{}
	}
	st.open[lf] = struct{}{}
	ud := L.NewUserData()
	ud.Value = lf
	L.SetMetatable(ud, L.GetTypeMetatable(fileTypeName))
	L.Push(ud)
	return 1
}

// ioFail returns Lua's nil, message for a failed io call.
func ioFail(L *lua.LState, name string, err error) int {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	L.Push(lua.LNil)
	L.Push(lua.LString(name + ": " + err.Error()))
	return 2
}

func checkFile(L *lua.LState, n int) *luaFile {
	ud := L.CheckUserData(n)
	f, ok := ud.Value.(*luaFile)
	if !ok {
		L.ArgError(n, "file expected")
	}
	return f
}

func openFile(L *lua.LState, n int) *luaFile {
	f := checkFile(L, n)
	if f.closed {
		L.RaiseError("attempt to use a closed file")
	}
	return f
}

func (st *state) fileClose(L *lua.LState) int {
	st.closeFile(checkFile(L, 1))
	L.Push(lua.LTrue)
	return 1
}

func (st *state) closeFile(f *luaFile) {
	if !f.closed {
		f.closed = true
		_ = f.f.Close()
		delete(st.open, f)
	}
}

func fileSeek(L *lua.LState) int {
	f := openFile(L, 1)
	whence := map[string]int{"set": io.SeekStart, "cur": io.SeekCurrent, "end": io.SeekEnd}[L.OptString(2, "cur")]
	off := int64(L.OptInt(3, 0))
	if whence == io.SeekCurrent {
		off -= int64(f.r.Buffered())
	}
	pos, err := f.f.Seek(off, whence)
	if err != nil {
		return ioFail(L, f.f.Name(), err)
	}
	f.r.Reset(f.f)
	L.Push(lua.LNumber(pos))
	return 1
}

func (st *state) fileWrite(L *lua.LState) int {
	f := openFile(L, 1)
	if !f.w {
		return ioFail(L, f.f.Name(), errors.New("file not open for writing"))
	}
	for i := 2; i <= L.GetTop(); i++ {
		s := lua.LVAsString(L.Get(i))
		if n, ok := L.Get(i).(lua.LNumber); ok {
			s = formatNumber(float64(n))
		}
		if pos, err := f.f.Seek(0, io.SeekCurrent); err == nil && pos+int64(len(s)) > f.size {
			return ioFail(L, f.f.Name(), errors.New("file too large (the string limit)"))
		}
		if _, err := f.f.WriteString(s); err != nil {
			return ioFail(L, f.f.Name(), err)
		}
	}
	L.Push(L.Get(1))
	return 1
}

func (st *state) fileRead(L *lua.LState) int {
	f := openFile(L, 1)
	n := L.GetTop()
	if n == 1 {
		return st.readOne(L, f, lua.LString("*l"))
	}
	pushed := 0
	for i := 2; i <= n; i++ {
		r := st.readOne(L, f, L.Get(i))
		pushed += r
		if L.Get(-1) == lua.LNil {
			break
		}
	}
	return pushed
}

// readOne reads one item in a format of file:read.
func (st *state) readOne(L *lua.LState, f *luaFile, format lua.LValue) int {
	if n, ok := format.(lua.LNumber); ok {
		size := int(n)
		if size > st.maxString {
			L.RaiseError("read of %d bytes beyond the string limit", size)
		}
		buf := make([]byte, size)
		got, err := io.ReadFull(f.r, buf)
		if got == 0 && (err != nil || size > 0) {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(buf[:got]))
		return 1
	}
	switch strings.TrimPrefix(lua.LVAsString(format), "*")[:1] {
	case "a":
		b, err := io.ReadAll(io.LimitReader(f.r, int64(st.maxString)+1))
		if err != nil {
			return ioFail(L, f.f.Name(), err)
		}
		if len(b) > st.maxString {
			L.RaiseError("file larger than the string limit")
		}
		L.Push(lua.LString(b))
	case "l":
		line, err := readLine(f.r, st.maxString)
		if err != nil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(line))
	case "n":
		var word strings.Builder
		for word.Len() < 64 {
			c, err := f.r.ReadByte()
			if err != nil {
				break
			}
			if isSpace(c) && word.Len() == 0 {
				continue
			}
			if isSpace(c) {
				_ = f.r.UnreadByte()
				break
			}
			word.WriteByte(c)
		}
		v, err := strconv.ParseFloat(word.String(), 64)
		if err != nil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(v))
	default:
		L.ArgError(2, "invalid format")
	}
	return 1
}

// readLine reads a line without its end, bounded.
func readLine(r *bufio.Reader, limit int) (string, error) {
	var b []byte
	for {
		part, isPrefix, err := r.ReadLine()
		if err != nil {
			if len(b) > 0 {
				return string(b), nil
			}
			return "", err
		}
		b = append(b, part...)
		if len(b) > limit {
			return "", errors.New("line too long")
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func (st *state) fileLines(L *lua.LState) int {
	f := openFile(L, 1)
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if f.closed {
			L.RaiseError("file is already closed")
		}
		line, err := readLine(f.r, st.maxString)
		if err != nil {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(line))
		return 1
	}))
	return 1
}

func (st *state) ioLines(L *lua.LState) int {
	L.CheckString(1)
	L.SetTop(1)
	L.Push(lua.LString("r"))
	if st.ioOpen(L) == 2 {
		L.RaiseError("%s", lua.LVAsString(L.Get(-1)))
	}
	ud := L.Get(-1).(*lua.LUserData)
	f := ud.Value.(*luaFile)
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if f.closed {
			L.Push(lua.LNil)
			return 1
		}
		line, err := readLine(f.r, st.maxString)
		if err != nil {
			st.closeFile(f)
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LString(line))
		return 1
	}))
	return 1
}
