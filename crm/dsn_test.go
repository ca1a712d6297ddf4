package crm

import "testing"

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable":   "postgres://u@h:5432/db?sslmode=disable",
		"postgresql://u@h/db":                         "postgresql://u@h/db",
		"postgres://h/db?password=pw&sslmode=require": "postgres://h/db?sslmode=require",
		"POSTGRES://u:pw@h/db":                        "postgres://u@h/db",
		"/var/lib/crmload.db":                         "/var/lib/crmload.db",
	} {
		if got := RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}
