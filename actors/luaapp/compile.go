package luaapp

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// Every chunk a script loads (main.lua, require, dofile, loadstring) is compiled through
// an AST rewrite, because the VM offers no hook where these happen:
//
//   - `a .. b .. c` becomes a call of a hidden concat function, which bounds the size of
//     the string it makes (a loop doubling a string would otherwise exhaust the process's
//     memory inside one instruction, where no budget can stop it) and formats numbers as
//     Lua 5.1 does (%.14g);
//   - a vararg function that reads Lua 5.1's implicit `arg` table without using `...`
//     gets `local arg = {n = select("#", ...), ...}`, which old Cumulus scripts (its
//     HelloWorld among them) rely on; gopher-lua's own version of it builds the table at
//     every call of every vararg function, used or not.
//
// The hidden functions reach the chunk as locals whose names no Lua source can spell: the
// chunk is compiled as
//
//	local (concat), (pack), (drop) = ...
//	return (function(...) <the chunk> end)((drop)(...))
//
// and called with them in front of its own arguments.
const (
	hiddenConcat = "(concat)"
	hiddenPack   = "(pack)"
	hiddenDrop   = "(drop)"
)

// compile parses and rewrites src, named name in error messages and stack traces.
func compile(L *lua.LState, src []byte, name string) (*lua.LFunction, error) {
	stmts, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	w := rewriter{}
	stmts = w.stmts(stmts)
	line := 0
	if len(stmts) > 0 {
		line = stmts[0].Line()
	}
	head := &ast.LocalAssignStmt{Names: []string{hiddenConcat, hiddenPack, hiddenDrop}, Exprs: []ast.Expr{&ast.Comma3Expr{}}}
	head.SetLine(line)
	inner := &ast.FunctionExpr{ParList: &ast.ParList{HasVargs: true}, Stmts: stmts}
	inner.SetLine(line)
	call := &ast.FuncCallExpr{Func: inner, Args: []ast.Expr{
		&ast.FuncCallExpr{Func: ident(hiddenDrop, line), Args: []ast.Expr{&ast.Comma3Expr{}}, AdjustRet: true},
	}}
	call.SetLine(line)
	ret := &ast.ReturnStmt{Exprs: []ast.Expr{call}}
	ret.SetLine(line)
	proto, err := lua.Compile([]ast.Stmt{head, ret}, name)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	return L.NewFunctionFromProto(proto), nil
}

// syntaxError turns gopher-lua's parse and compile errors into Lua 5.1's form,
// "<file>:<line>: <message>", which is what the log and a refused client are shown.
func syntaxError(name string, err error) error {
	var pe *parse.Error
	if errors.As(err, &pe) {
		msg := strings.TrimSpace(pe.Message)
		if pe.Pos.Line == parse.EOF {
			return fmt.Errorf("%s: %s at the end of the file", name, msg)
		}
		if pe.Token != "" {
			msg += " near '" + pe.Token + "'"
		}
		return fmt.Errorf("%s:%d: %s", name, pe.Pos.Line, msg)
	}
	var ce *lua.CompileError
	if errors.As(err, &ce) {
		return fmt.Errorf("%s:%d: %s", name, ce.Line, ce.Message)
	}
	return fmt.Errorf("%s: %w", name, err)
}

func ident(name string, line int) *ast.IdentExpr {
	e := &ast.IdentExpr{Value: name}
	e.SetLine(line)
	return e
}

// rewriter rewrites a chunk's statements in place.
type rewriter struct{}

func (w rewriter) stmts(ss []ast.Stmt) []ast.Stmt {
	for _, s := range ss {
		w.stmt(s)
	}
	return ss
}

func (w rewriter) stmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.AssignStmt:
		w.exprs(s.Lhs)
		w.exprs(s.Rhs)
	case *ast.LocalAssignStmt:
		w.exprs(s.Exprs)
	case *ast.FuncCallStmt:
		s.Expr = w.expr(s.Expr)
	case *ast.DoBlockStmt:
		w.stmts(s.Stmts)
	case *ast.WhileStmt:
		s.Condition = w.expr(s.Condition)
		w.stmts(s.Stmts)
	case *ast.RepeatStmt:
		s.Condition = w.expr(s.Condition)
		w.stmts(s.Stmts)
	case *ast.IfStmt:
		s.Condition = w.expr(s.Condition)
		w.stmts(s.Then)
		w.stmts(s.Else)
	case *ast.NumberForStmt:
		s.Init, s.Limit = w.expr(s.Init), w.expr(s.Limit)
		if s.Step != nil {
			s.Step = w.expr(s.Step)
		}
		w.stmts(s.Stmts)
	case *ast.GenericForStmt:
		w.exprs(s.Exprs)
		w.stmts(s.Stmts)
	case *ast.FuncDefStmt:
		if s.Name != nil {
			if s.Name.Func != nil {
				s.Name.Func = w.expr(s.Name.Func)
			}
			if s.Name.Receiver != nil {
				s.Name.Receiver = w.expr(s.Name.Receiver)
			}
		}
		w.function(s.Func)
	case *ast.ReturnStmt:
		w.exprs(s.Exprs)
	}
}

func (w rewriter) exprs(es []ast.Expr) {
	for i, e := range es {
		es[i] = w.expr(e)
	}
}

func (w rewriter) expr(e ast.Expr) ast.Expr {
	switch x := e.(type) {
	case *ast.StringConcatOpExpr:
		// a .. (b .. c) — right-associative — becomes (concat)(a, b, c).
		var operands []ast.Expr
		var cur ast.Expr = x
		for {
			c, ok := cur.(*ast.StringConcatOpExpr)
			if !ok {
				operands = append(operands, w.expr(cur))
				break
			}
			operands = append(operands, w.expr(c.Lhs))
			cur = c.Rhs
		}
		call := &ast.FuncCallExpr{Func: ident(hiddenConcat, x.Line()), Args: operands, AdjustRet: true}
		call.SetLine(x.Line())
		call.SetLastLine(x.LastLine())
		return call
	case *ast.AttrGetExpr:
		x.Object, x.Key = w.expr(x.Object), w.expr(x.Key)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			if f.Key != nil {
				f.Key = w.expr(f.Key)
			}
			f.Value = w.expr(f.Value)
		}
	case *ast.FuncCallExpr:
		if x.Func != nil {
			x.Func = w.expr(x.Func)
		}
		if x.Receiver != nil {
			x.Receiver = w.expr(x.Receiver)
		}
		w.exprs(x.Args)
	case *ast.LogicalOpExpr:
		x.Lhs, x.Rhs = w.expr(x.Lhs), w.expr(x.Rhs)
	case *ast.RelationalOpExpr:
		x.Lhs, x.Rhs = w.expr(x.Lhs), w.expr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		x.Lhs, x.Rhs = w.expr(x.Lhs), w.expr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		x.Expr = w.expr(x.Expr)
	case *ast.UnaryNotOpExpr:
		x.Expr = w.expr(x.Expr)
	case *ast.UnaryLenOpExpr:
		x.Expr = w.expr(x.Expr)
	case *ast.FunctionExpr:
		w.function(x)
	}
	return e
}

// function rewrites a function's body and gives it Lua 5.1's `arg` if it needs one.
func (w rewriter) function(f *ast.FunctionExpr) {
	w.stmts(f.Stmts)
	if f.ParList == nil || !f.ParList.HasVargs || slices.Contains(f.ParList.Names, "arg") {
		return
	}
	u := argUse{}
	u.stmts(f.Stmts)
	if !u.arg || u.vararg {
		return
	}
	line := f.Line()
	local := &ast.LocalAssignStmt{Names: []string{"arg"}, Exprs: []ast.Expr{
		&ast.FuncCallExpr{Func: ident(hiddenPack, line), Args: []ast.Expr{&ast.Comma3Expr{}}, AdjustRet: true},
	}}
	local.SetLine(line)
	f.Stmts = append([]ast.Stmt{local}, f.Stmts...)
}

// argUse finds whether a function body reads the name `arg` (itself or in nested
// functions without their own varargs, which see it as an upvalue) and whether it uses
// `...` itself.
type argUse struct {
	arg, vararg bool
	nested      bool // inside a nested function: its `...` is its own
}

func (u *argUse) stmts(ss []ast.Stmt) {
	for _, s := range ss {
		switch s := s.(type) {
		case *ast.AssignStmt:
			u.exprs(s.Lhs)
			u.exprs(s.Rhs)
		case *ast.LocalAssignStmt:
			u.exprs(s.Exprs)
		case *ast.FuncCallStmt:
			u.expr(s.Expr)
		case *ast.DoBlockStmt:
			u.stmts(s.Stmts)
		case *ast.WhileStmt:
			u.expr(s.Condition)
			u.stmts(s.Stmts)
		case *ast.RepeatStmt:
			u.expr(s.Condition)
			u.stmts(s.Stmts)
		case *ast.IfStmt:
			u.expr(s.Condition)
			u.stmts(s.Then)
			u.stmts(s.Else)
		case *ast.NumberForStmt:
			u.expr(s.Init)
			u.expr(s.Limit)
			if s.Step != nil {
				u.expr(s.Step)
			}
			u.stmts(s.Stmts)
		case *ast.GenericForStmt:
			u.exprs(s.Exprs)
			u.stmts(s.Stmts)
		case *ast.FuncDefStmt:
			if s.Name != nil && s.Name.Func != nil {
				u.expr(s.Name.Func)
			}
			u.function(s.Func)
		case *ast.ReturnStmt:
			u.exprs(s.Exprs)
		}
	}
}

func (u *argUse) exprs(es []ast.Expr) {
	for _, e := range es {
		u.expr(e)
	}
}

func (u *argUse) expr(e ast.Expr) {
	switch x := e.(type) {
	case *ast.IdentExpr:
		if x.Value == "arg" {
			u.arg = true
		}
	case *ast.Comma3Expr:
		if !u.nested {
			u.vararg = true
		}
	case *ast.AttrGetExpr:
		u.expr(x.Object)
		u.expr(x.Key)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			if f.Key != nil {
				u.expr(f.Key)
			}
			u.expr(f.Value)
		}
	case *ast.FuncCallExpr:
		if x.Func != nil {
			u.expr(x.Func)
		}
		if x.Receiver != nil {
			u.expr(x.Receiver)
		}
		u.exprs(x.Args)
	case *ast.LogicalOpExpr:
		u.expr(x.Lhs)
		u.expr(x.Rhs)
	case *ast.RelationalOpExpr:
		u.expr(x.Lhs)
		u.expr(x.Rhs)
	case *ast.StringConcatOpExpr:
		u.expr(x.Lhs)
		u.expr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		u.expr(x.Lhs)
		u.expr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		u.expr(x.Expr)
	case *ast.UnaryNotOpExpr:
		u.expr(x.Expr)
	case *ast.UnaryLenOpExpr:
		u.expr(x.Expr)
	case *ast.FunctionExpr:
		u.function(x)
	}
}

// function looks into a nested function: one with varargs has an `arg` of its own.
func (u *argUse) function(f *ast.FunctionExpr) {
	if f.ParList != nil && f.ParList.HasVargs {
		return
	}
	nested := u.nested
	u.nested = true
	u.stmts(f.Stmts)
	u.nested = nested
}
