// Package loader runs the load pipeline: it reads input files, maps their
// records with a mapping spec, batches the events, sends them to an engine
// and writes what became of every row.
//
// The stages, one goroutine each but batch, which runs in read, and send
// (run.pipeline, pipeline.go):
//
//	read    source.go, csv.go, jsonl.go, read.go: records, mapped (mapping.Mapper)
//	batch   batch.go: calls of at most BatchSize events and about BatchBytes,
//	        whose events the mapper writes in place (batcher)
//	send    send.go, gate.go: Concurrency senders, retries, back-pressure
//	settle  settle.go, reports.go: the only writer of reports, summary and journal
//
// What one run reads is a Plan (plan.go) and how it sends LoadOptions
// (load.go); Load runs it, LoadJobFile runs a JobFile of several sources
// (jobfile.go), Validate checks without sending (validate.go). Each run
// writes a run directory, owned by RunDir (rundir.go): job.json
// (RunFile), the reports (rowreport.go), the journal a resume reads
// (journal.go), summary.json (Summary, summary.go) with its Outcome
// (outcome.go). The ledger (ledger.go) records which inputs were loaded.
package loader
