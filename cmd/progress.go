package cmd

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/crmload/crmload/loader"
	"github.com/schollz/progressbar/v3"
)

func newLogger(g *globals, opts loadOptions) *slog.Logger {
	level := slog.LevelInfo
	if opts.quiet {
		level = slog.LevelError
	}
	ho := &slog.HandlerOptions{Level: level}
	if opts.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(g.io.ErrOut, ho))
	}
	return slog.New(slog.NewTextHandler(g.io.ErrOut, ho))
}

// progress shows a bar on a terminal, or a log line every 10 s elsewhere
// (cron mails stay short); with --progress never, neither (the loader's
// heartbeat still says every 30 s that the run lives).
type progress struct {
	bar    *progressbar.ProgressBar
	logger *slog.Logger
	last   time.Time
	quiet  bool // no progress lines
}

func newProgress(g *globals, opts loadOptions, logger *slog.Logger) *progress {
	p := &progress{logger: logger, quiet: opts.quiet || opts.progress == "never", last: time.Now()}
	show := opts.progress == "always" || (opts.progress == "auto" && IsTerminal(g.io.ErrOut))
	if show && !opts.quiet {
		p.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(g.io.ErrOut),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("loading"),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(s loader.Progress) {
	rate := float64(s.RowsSettled) / max(s.Elapsed.Seconds(), 0.001)
	if p.bar != nil {
		if s.BytesTotal > 0 && p.bar.GetMax64() != s.BytesTotal {
			p.bar.ChangeMax64(s.BytesTotal)
		}
		p.bar.Describe(fmt.Sprintf("%d rows, %.0f rows/s, %d failed", s.RowsSettled, rate, s.RowsFailed))
		p.bar.Set64(s.BytesRead)
		return
	}
	if p.quiet || time.Since(p.last) < 10*time.Second {
		return
	}
	p.last = time.Now()
	pct := 0.0
	if s.BytesTotal > 0 {
		pct = 100 * float64(s.BytesRead) / float64(s.BytesTotal)
	}
	p.logger.Info("progress", "rows", s.RowsSettled, "failed", s.RowsFailed, "rows_per_s", int(rate), "read_pct", int(pct))
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
