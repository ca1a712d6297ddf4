// Package cmd is crmload's command line, one client of the loader and
// engine libraries: cobra commands built by constructors and listed in
// root.go (load, retry, validate, init, events, engine seed, engine
// serve, summary, version), the binding of flags, environment and config
// file (one viper, in the root's PersistentPreRunE), signals, progress on
// stderr, and the process's exit code (exit.go, from loader.Outcome).
//
// In the load pipeline it is the first and last step: it turns flags into
// a loader.Plan and loader.LoadOptions, picks the engine and the ledger of
// loaded inputs (openengine.go), calls loader.Load, loader.LoadJobFile or
// loader.Validate, then prints the summary. It holds no business logic:
// what a run directory holds, it asks loader.RunDir.
package cmd
