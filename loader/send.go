package loader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/crmload/crmload/crm"
	"github.com/crmload/crmload/mapping"
	"golang.org/x/time/rate"
)

// send calls the engine for one batch, retrying failures to reach it with
// backoff, and splitting a batch the engine refuses as a whole to find the
// events that cause it. Its steps: build the call, journal it as sending
// (engines without receipts), make it (waits, gate, retries), then settle
// what became of it.
func (r *run) send(readCtx, sendCtx context.Context, limiter *rate.Limiter, b batch, out chan<- []settled) {
	if readCtx.Err() != nil {
		out <- dropAll(b.evs)
		return
	}
	c := r.newBulkCall(b)
	res, sent, err := r.callWithRetries(readCtx, sendCtx, limiter, c)
	if !sent {
		out <- r.unsent(c)
		return
	}
	r.settleCall(readCtx, sendCtx, limiter, c, res, err, out)
}

// eventFinder returns a function that finds the event of b with a request
// id. The events of a call have distinct request ids (batch starts a new
// batch at a repeated one), so the index is unique; engines answer in the
// call's order, so the event after the one last found is tried first and
// a map is made only when that guess misses.
func eventFinder(b []event) func(id string) (int, bool) {
	next := 0
	var byID map[string]int
	return func(id string) (int, bool) {
		if next < len(b) && b[next].item.RequestID == id {
			next++
			return next - 1, true
		}
		if byID == nil {
			byID = make(map[string]int, len(b))
			for i, ev := range b {
				byID[ev.item.RequestID] = i
			}
		}
		i, ok := byID[id]
		if ok {
			next = i + 1
		}
		return i, ok
	}
}

// bulkCall is one call of a batch: its request, and its rows as the
// journal names them.
type bulkCall struct {
	bt      batch
	b       []event
	req     crm.BulkRequest
	sending [][2]int
}

// newBulkCall builds the call of a batch. Its Events are the batch's as
// the mapper wrote them (see batcher), not a copy, when they are the
// batch's events in order; else (a batch made otherwise) a copy.
func (r *run) newBulkCall(bt batch) *bulkCall {
	b := bt.evs
	c := &bulkCall{bt: bt, b: b, req: crm.BulkRequest{Kind: r.inputs[0].mapper.Kind(), IntendedCurrency: r.inputs[0].mapper.IntendedCurrency(),
		Events: bt.events, Run: r.key, Keys: make([]string, len(b)),
		Validated: true}, // the mapper ran crm.Validate on each event
		sending: make([][2]int, 0, len(b))}
	inPlace := len(bt.events) == len(b)
	// The keys share one string: one allocation a call, not one a row.
	keys := make([]byte, 0, 12*len(b))
	ends := make([]int32, len(b))
	for i, ev := range b {
		inPlace = inPlace && ev.item.Event == &bt.events[i]
		keys = appendKey(keys, ev.file, ev.item)
		ends[i] = int32(len(keys))
		c.req.Replay = c.req.Replay || ev.replay
		c.sending = append(c.sending, [2]int{ev.file, ev.item.Records[0].Line})
	}
	all, start := string(keys), int32(0)
	for i, end := range ends {
		c.req.Keys[i] = all[start:end]
		start = end
	}
	if !inPlace {
		c.req.Events = make([]crm.Event, len(b))
		for i, ev := range b {
			c.req.Events[i] = *ev.item.Event
		}
	}
	return c
}

// journalSending journals the call's rows just before it goes on the wire
// (engines without receipts), not while it waits for the rate limit, a
// place among the calls in flight or a retry's backoff: should this
// process die while it is in flight, a resume knows these rows are in
// doubt, and only these.
func (r *run) journalSending(c *bulkCall) error {
	if !r.journalSends {
		return nil
	}
	return r.journal.record(journalEntry{Sending: c.sending})
}

// unsent withdraws the journal's Sending line of a call that surely did
// not reach the engine, and drops its rows (a resume sends them).
func (r *run) unsent(c *bulkCall) []settled {
	if r.journalSends {
		r.journal.record(journalEntry{Unsent: c.sending})
	}
	return dropAll(c.b)
}

// callWithRetries makes the call, trying again (after a backoff) while
// the engine could not be reached and a retry is left. Waits outside a
// call (the rate limit, a place among the calls in flight, a retry's
// backoff) end at once on an interrupt or an abort (readCtx); only a call
// in flight gets the grace period (sendCtx). sent is false when the run
// stopped before the call went.
func (r *run) callWithRetries(readCtx, sendCtx context.Context, limiter *rate.Limiter, c *bulkCall) (res crm.BulkResult, sent bool, err error) {
	var apiErr *crm.Error
	for attempt := 0; ; attempt++ {
		if limiter != nil {
			if err := limiter.Wait(readCtx); err != nil {
				return res, false, err
			}
		}
		callCtx, cancel := sendCtx, context.CancelFunc(func() {})
		if r.opts.Timeout > 0 {
			callCtx, cancel = context.WithTimeout(sendCtx, r.opts.Timeout)
		}
		if !r.gate.enter(readCtx) {
			cancel()
			return res, false, readCtx.Err()
		}
		if err := r.journalSending(c); err != nil {
			r.gate.leave(false)
			cancel()
			r.abort("cannot write the journal: " + err.Error())
			return res, false, err
		}
		res, err = r.eng.CreateEvents(callCtx, c.req)
		if errors.Is(err, context.DeadlineExceeded) && errors.Is(callCtx.Err(), context.DeadlineExceeded) && sendCtx.Err() == nil {
			err = fmt.Errorf("%w (the call's --timeout of %s ran out)", err, r.opts.Timeout)
		}
		cancel()
		var callErr *crm.CallError
		errors.As(err, &callErr)
		r.gate.leave(callErr != nil && (callErr.Status == 429 || callErr.Status == 503))
		// A call that may have been processed is sent again only to an
		// engine that keeps receipts, as a replay; elsewhere its rows are
		// in doubt. Calls that surely were not processed are retried.
		ambiguous := callErr != nil && callErr.Sent
		if ambiguous && r.replayable() {
			c.req.Replay = true
		}
		tooLarge := callErr != nil && callErr.TooLarge // the same call would be refused again
		if err == nil || errors.As(err, &apiErr) || (ambiguous && !c.req.Replay) || attempt >= r.opts.Retries || sendCtx.Err() != nil || permanent(err) || tooLarge {
			return res, true, err
		}
		if r.journalSends && !ambiguous {
			// Surely not processed (refused with 429 or 503, no
			// connection): not in flight while it waits to go again.
			if err := r.journal.record(journalEntry{Unsent: c.sending}); err != nil {
				r.abort("cannot write the journal: " + err.Error())
				return res, false, err
			}
		}
		if !r.waitToRetry(readCtx, attempt, err, callErr, c.b) {
			return res, true, err
		}
	}
}

// waitToRetry counts a retry, says why in the log, and waits for its
// backoff (or the engine's Retry-After); false: the wait was cut short.
func (r *run) waitToRetry(ctx context.Context, attempt int, err error, callErr *crm.CallError, b []event) bool {
	r.retries.Add(1)
	wait := Backoff(attempt)
	if callErr != nil && callErr.RetryAfter > wait {
		wait = callErr.RetryAfter
	}
	reason := err.Error()
	r.waiting.Store(fmt.Sprintf("%s: %s", time.Now().UTC().Format(time.TimeOnly), reason))
	level := slog.LevelInfo
	if wait > LongWait {
		level = slog.LevelWarn // a long wait is never silent, even with --quiet
	}
	args := []any{"reason", reason, "wait", wait.Round(time.Millisecond).String(),
		"retry", attempt + 1, "of", r.opts.Retries, "events", len(b), "first_line", b[0].item.Records[0].Line}
	if callErr != nil && callErr.RetryAfterAsked > callErr.RetryAfter {
		args = append(args, "retry_after_asked", callErr.RetryAfterAsked.String(), "retry_after_cap", crm.MaxRetryAfter.String())
	}
	r.opts.Logger.Log(ctx, level, "call failed; retrying", args...)
	return r.opts.sleep(ctx, wait)
}

// settleCall sends on what became of a call that was made: its results
// matched with its events, its rows in doubt, dropped for a resume, or
// failed; a refusal of the whole call is split in halves and sent again.
func (r *run) settleCall(readCtx, sendCtx context.Context, limiter *rate.Limiter, c *bulkCall, res crm.BulkResult, err error, out chan<- []settled) {
	b := c.b
	var callErr *crm.CallError
	var apiErr *crm.Error
	errors.As(err, &callErr)
	isAPI := errors.As(err, &apiErr)
	if err == nil || !(callErr != nil && callErr.Sent) {
		r.doubtRun.Store(0)
	}
	switch {
	case err == nil:
		settled, again := r.match(b, res)
		out <- settled
		if len(again) > 0 {
			// Sent again as a replay, while the batch's memory is this
			// call's (as halves are).
			r.send(readCtx, sendCtx, limiter, batch{evs: again}, out)
		}
	case callErr != nil && callErr.Sent && r.replayable() && r.journalSends:
		// The engine keeps receipts: whether it stored the call or not,
		// sending it again as a replay stores nothing twice. The run
		// stops; the journal's Sending line stays, so that --resume
		// replays these rows instead of leaving them in doubt.
		if sendCtx.Err() == nil {
			r.abort(fmt.Sprintf("the engine could not take a call after %s: %v", mapping.CountOf(r.opts.Retries, "retry", ""), err))
		}
		out <- dropAll(b)
	case callErr != nil && callErr.Sent:
		if permanent(err) {
			// The server cannot take calls until someone acts (507):
			// stop, rather than send every batch into the same wall.
			r.abort(err.Error())
		}
		if n := r.doubtRun.Add(1); n >= maxDoubtRun && sendCtx.Err() == nil {
			// The engine, or a gateway in front of it, fails every call:
			// each more call sent is more rows for someone to check.
			r.abort(fmt.Sprintf("%d calls in a row got no usable answer (the last: %v): their rows are in doubt; once the engine answers again, --resume loads the rest", n, err))
		}
		out <- inDoubtAll(b, err)
	case sendCtx.Err() != nil || (readCtx.Err() != nil && !isAPI):
		// Stopped before the call reached the engine (or the embedded
		// engine rolled it back): nothing was stored; a resume sends it.
		out <- r.unsent(c)
	case permanent(err):
		// Nothing was stored, and trying again would not help (a full
		// disk): stop now, with everything so far in the reports.
		r.abort(err.Error())
		out <- r.unsent(c)
	case isAPI && (apiErr.Code == crm.CodeInvalidToken || apiErr.Code == crm.CodeAuthenticationFailed):
		// Not the events' fault: splitting the call would not help.
		r.abort("the engine refused the credentials: " + apiErr.Description())
		out <- r.unsent(c)
	case callErr != nil && callErr.TooLarge && len(b) > 1:
		// Too large for the engine or a gateway in front of it, and not
		// processed: halved until each part goes through.
		r.opts.Logger.Info("call refused as too large; sending it in halves (a smaller --batch-size avoids the refusals)",
			"events", len(b), "first_line", b[0].item.Records[0].Line, "reason", err.Error())
		r.halve(readCtx, sendCtx, limiter, c, out)
	case callErr != nil && callErr.TooLarge:
		out <- []settled{{item: b[0].item, file: b[0].file, code: crm.CodeInvalidRequest, msg: err.Error() + " with this event alone: shorten its values, or raise the limit of the engine or its gateway", batch: true}}
	case isAPI && len(b) > 1:
		// A refusal of the whole call: halve it until the events that
		// cause it stand alone. Nothing of it was processed: its Sending
		// line is withdrawn (each half journals its own), so that halves
		// an interrupt keeps from going are sent by a resume, not taken
		// for calls in flight.
		r.halve(readCtx, sendCtx, limiter, c, out)
	case isAPI:
		out <- []settled{{item: b[0].item, file: b[0].file, code: apiErr.Code, msg: apiErr.Description(), batch: true}}
	default:
		r.abort(fmt.Sprintf("the engine could not be reached after %s: %v", mapping.CountOf(r.opts.Retries, "retry", ""), err))
		out <- r.unsent(c)
	}
}

// halve sends a call that was not processed again as two halves. Its
// Sending line is withdrawn (each half journals its own), so that halves
// an interrupt keeps from going are sent by a resume, not taken for calls
// in flight.
func (r *run) halve(readCtx, sendCtx context.Context, limiter *rate.Limiter, c *bulkCall, out chan<- []settled) {
	if r.journalSends {
		r.journal.record(journalEntry{Unsent: c.sending})
	}
	lo, hi := c.bt.halves()
	r.send(readCtx, sendCtx, limiter, lo, out)
	r.send(readCtx, sendCtx, limiter, hi, out)
}

// maxDoubtRun is how many calls in a row may get no usable answer from an
// engine without receipts (their rows in doubt) before the run stops: a
// call now and then that times out is the network's, every call the
// engine's or its gateway's.
const maxDoubtRun = 3

// permanent reports whether err says the engine cannot take calls until
// someone acts (its store's disk is full): such a call is not retried.
func permanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// replayable reports whether the engine takes replays.
func (r *run) replayable() bool {
	rp, ok := r.eng.(Replayer)
	return ok && rp.SupportsReplay()
}

func inDoubtAll(b []event, err error) []settled {
	out := make([]settled, len(b))
	for i, ev := range b {
		out[i] = settled{item: ev.item, file: ev.file, inDoubt: true, batch: true,
			msg: "in doubt: the call was sent but got no usable answer (" + err.Error() + "); the event may or may not have been created"}
	}
	return out
}

func dropAll(b []event) []settled {
	out := make([]settled, len(b))
	for i, ev := range b {
		out[i] = settled{item: ev.item, file: ev.file, dropped: true}
	}
	return out
}

// match pairs a call's results with its events by request id. An answer
// that contradicts itself or leaves an event out (an event in neither
// set, in both, or twice) says nothing sure about that event: to an
// engine that keeps receipts it is sent again as a replay (again: it
// stores nothing twice, and answers what it stored), once; otherwise, or
// when its replay's answer leaves it out too, its rows are in doubt,
// never counted as created, and the answer is logged.
func (r *run) match(b []event, res crm.BulkResult) (out []settled, again []event) {
	find := eventFinder(b)
	out = r.settledLists.take(len(b), 0)
	seen := make([]int, len(b))
	unknown := 0
	for _, p := range res.Processed {
		if i, ok := find(p.RequestUniqueIdentifier); ok {
			seen[i]++
			out[i] = settled{item: b[i].item, file: b[i].file, id: p.ID, num: p.Number, batch: true}
		} else {
			unknown++
		}
	}
	for _, u := range res.Unprocessed {
		if i, ok := find(u.RequestUniqueIdentifier); ok {
			seen[i]++
			out[i] = settled{item: b[i].item, file: b[i].file, code: u.ErrorCode, msg: u.ErrorDescription, batch: true}
		} else {
			unknown++
		}
	}
	var missing, contradicted []string
	for i := range out {
		switch seen[i] {
		case 1:
			continue
		case 0:
			missing = append(missing, b[i].item.RequestID)
			out[i] = settled{item: b[i].item, file: b[i].file, inDoubt: true, batch: true,
				msg: "in doubt: the engine's answer did not report this event (it may or may not have been created)"}
		default:
			contradicted = append(contradicted, b[i].item.RequestID)
			out[i] = settled{item: b[i].item, file: b[i].file, inDoubt: true, batch: true,
				msg: fmt.Sprintf("in doubt: the engine's answer reported this event %d times (processed and unprocessed, or twice): it may or may not have been created", seen[i])}
		}
	}
	// Events the engine found stored by an earlier copy of the call (a
	// replay of a call in flight when an earlier attempt stopped) were
	// not created by this one: reported, and counted as found.
	for _, i := range res.Found {
		if i < len(out) && seen[i] == 1 && out[i].id != "" {
			out[i].found = true
		}
	}
	if len(missing)+len(contradicted)+unknown > 0 && r.replayable() {
		kept := out[:0]
		for i, o := range out {
			if o.inDoubt && !b[i].replay {
				ev := b[i]
				ev.replay = true
				again = append(again, ev)
				continue
			}
			kept = append(kept, o)
		}
		out = kept
	}
	if len(missing)+len(contradicted)+unknown > 0 {
		what := "the rows concerned are in doubt"
		if len(again) > 0 {
			what = "the events concerned are sent again as a replay (the engine keeps receipts)"
		}
		r.opts.Logger.Warn("the engine's answer does not match the call: "+what,
			"events", len(b), "not_reported", firstN(missing, 5), "reported_more_than_once", firstN(contradicted, 5), "unknown_request_ids", unknown, "sent_again", len(again))
	}
	return out, again
}

// LongWait is the wait before a retry past which the line that says so is
// a warning.
const LongWait = 5 * time.Second

// firstN is a short list for a log line: at most n items, then a count.
func firstN(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ",")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:n], ","), len(ids)-n)
}

// DefaultRetries is how often a call that could not reach the engine (or
// was refused with 429/503) is tried again by default: with backoff from
// 0.2 s doubling to a cap of 30 s, at least ten minutes of refusals (a
// server restarting, a maintenance window) are waited out before a run
// gives up.
const DefaultRetries = 48

// Backoff is how long to wait before retry attempt+1 of a call (or a
// login): from 0.2 s doubling to a cap of 30 s, with jitter.
func Backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt, 8)
	d = min(d, 30*time.Second)
	// Full jitter between half and the whole delay, so that concurrent
	// senders do not retry in step.
	return d/2 + time.Duration(randInt63n(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func randInt63n(n int64) int64 { return rand.Int64N(n) }
