// Package api serves an engine.Engine over HTTP as CRM.COM's Web API:
// `crmload engine serve`.
//
// It routes the authentication methods (auth.go: users, tokens, login rate
// limits), the bulk create method of every kind (server.go), and the
// single-event methods the pages document (methods.go, list.go). Request
// bodies are read by the strict streaming reader of package crm within the
// bounds of body.go (a small allowance until the token is accepted, a
// deadline proportional to the size); listen.go bounds connections. Errors
// are answered in the API's envelope with the statuses the README lists.
// Nothing here decides a business rule: that is package engine.
package api
