// Command crmload loads CRM.COM customer events from CSV and JSONL files.
package main

import (
	"os"

	"github.com/crmload/crmload/cmd"
)

func main() { os.Exit(cmd.Main()) }
