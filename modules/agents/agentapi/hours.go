package agentapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// BusinessHours is an agent's opening schedule (agents.business_hours). Outside the hours
// the agent answers with ClosedMessage and hands the conversation off.
type BusinessHours struct {
	Enabled       bool                `json:"enabled"`
	Timezone      string              `json:"timezone"` // IANA name, e.g. "Europe/Paris"
	Schedule      map[string]DayHours `json:"schedule"` // keys monday … sunday; a missing day is closed
	ClosedMessage string              `json:"closedMessage"`
}

// DayHours are one weekday's hours, "HH:MM" in 24-hour time in the schedule's time zone. A
// Close at or before Open runs past midnight into the next day ("22:00"–"06:00";
// "09:00"–"00:00" is open until midnight).
type DayHours struct {
	Open    string `json:"open"`
	Close   string `json:"close"`
	Enabled bool   `json:"enabled"`
}

// Weekdays are the schedule's keys, indexed by time.Weekday.
var Weekdays = [7]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// OpenAt reports whether the agent is open at t. Nil or disabled hours are always open; an
// unloadable time zone (never stored: it is validated on write) counts as UTC.
func (b *BusinessHours) OpenAt(t time.Time) bool {
	if b == nil || !b.Enabled {
		return true
	}
	loc, err := time.LoadLocation(b.Timezone)
	if err != nil {
		loc = time.UTC
	}
	t = t.In(loc)
	now := t.Hour()*60 + t.Minute()
	today := b.Schedule[Weekdays[t.Weekday()]]
	if open, close, ok := today.minutes(); ok {
		if open < close && now >= open && now < close {
			return true
		}
		if close <= open && now >= open { // runs past midnight: the evening part
			return true
		}
	}
	yesterday := b.Schedule[Weekdays[(t.Weekday()+6)%7]]
	if open, close, ok := yesterday.minutes(); ok && close <= open && now < close {
		return true // the early-morning part of yesterday's overnight hours
	}
	return false
}

// minutes returns the day's opening and closing minute of the day, ok false when closed.
func (d DayHours) minutes() (open, close int, ok bool) {
	if !d.Enabled {
		return 0, 0, false
	}
	open, ok1 := ParseHHMM(d.Open)
	close, ok2 := ParseHHMM(d.Close)
	return open, close, ok1 && ok2
}

// ParseHHMM parses "HH:MM" (00:00–23:59) into minutes since midnight.
func ParseHHMM(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || s[0] == '+' || s[3] == '+' || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// Note describes the hours for the prompt: the weekly schedule and the local time at now
// in the schedule's zone. It is "" when there are no hours (always open).
func (b *BusinessHours) Note(now time.Time) string {
	if b == nil || !b.Enabled {
		return ""
	}
	loc, err := time.LoadLocation(b.Timezone)
	if err != nil {
		loc = time.UTC
	}
	local := now.In(loc)
	state := "closed"
	if b.OpenAt(now) {
		state = "open"
	}
	var s strings.Builder
	fmt.Fprintf(&s, "Business hours, in the %s time zone, where it is now %s %s (%s):",
		loc.String(), local.Weekday(), local.Format("15:04"), state)
	for i := range 7 {
		day := Weekdays[(i+1)%7] // monday first
		s.WriteString("\n- " + strings.ToUpper(day[:1]) + day[1:] + ": ")
		d := b.Schedule[day]
		open, close, ok := d.minutes()
		switch {
		case !ok:
			s.WriteString("closed")
		case close == 0:
			s.WriteString(d.Open + "–24:00")
		case close <= open:
			s.WriteString(d.Open + "–" + d.Close + " the next day")
		default:
			s.WriteString(d.Open + "–" + d.Close)
		}
	}
	return s.String()
}
