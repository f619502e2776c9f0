package agentapi

import (
	"testing"
	"time"
)

func TestOpenAt(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	b := &BusinessHours{Enabled: true, Timezone: "Europe/Paris", Schedule: map[string]DayHours{
		"monday":  {Open: "09:00", Close: "17:30", Enabled: true},
		"tuesday": {Open: "09:00", Close: "17:30", Enabled: false},
		"friday":  {Open: "22:00", Close: "06:00", Enabled: true}, // overnight into Saturday
		"sunday":  {Open: "10:00", Close: "00:00", Enabled: true}, // until midnight
	}}
	at := func(day, hhmm string) time.Time { // 2024-06-03 is a Monday
		d := map[string]int{"monday": 3, "tuesday": 4, "friday": 7, "saturday": 8, "sunday": 9}[day]
		tm, err := time.ParseInLocation("2006-01-02 15:04", "2024-06-0"+string(rune('0'+d))+" "+hhmm, paris)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		day, at string
		open    bool
	}{
		{"monday", "08:59", false},
		{"monday", "09:00", true},
		{"monday", "17:29", true},
		{"monday", "17:30", false},
		{"tuesday", "12:00", false}, // disabled day
		{"friday", "21:59", false},
		{"friday", "23:00", true},
		{"saturday", "05:59", true}, // Friday's overnight hours
		{"saturday", "06:00", false},
		{"sunday", "23:59", true},
		{"sunday", "09:59", false},
	} {
		if got := b.OpenAt(at(tc.day, tc.at)); got != tc.open {
			t.Errorf("%s %s: open = %v, want %v", tc.day, tc.at, got, tc.open)
		}
	}
	// The time zone is the schedule's, not the caller's: 07:30 UTC is 09:30 in Paris (CEST).
	if !b.OpenAt(time.Date(2024, 6, 3, 7, 30, 0, 0, time.UTC)) {
		t.Error("07:30 UTC on a Monday should be open in Paris")
	}
	var none *BusinessHours
	if !none.OpenAt(time.Now()) || !(&BusinessHours{Enabled: false}).OpenAt(time.Now()) {
		t.Error("nil or disabled hours must always be open")
	}
}

func TestParseHHMM(t *testing.T) {
	for in, want := range map[string]int{"00:00": 0, "09:30": 570, "23:59": 1439, "24:00": -1, "9:30": -1, "09:60": -1, "+9:00": -1, "-1:00": -1, "ab:cd": -1} {
		got, ok := ParseHHMM(in)
		if (want < 0 && ok) || (want >= 0 && (!ok || got != want)) {
			t.Errorf("ParseHHMM(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

func TestHoursNote(t *testing.T) {
	b := &BusinessHours{Enabled: true, Timezone: "America/New_York", Schedule: map[string]DayHours{
		"monday":   {Open: "09:00", Close: "17:00", Enabled: true},
		"tuesday":  {Open: "09:00", Close: "17:00", Enabled: false},
		"friday":   {Open: "20:00", Close: "01:30", Enabled: true},
		"saturday": {Open: "10:00", Close: "00:00", Enabled: true},
	}}
	// 2024-06-08 02:00 UTC is Friday 22:00 in New York (EDT): open by Friday's night hours.
	got := b.Note(time.Date(2024, 6, 8, 2, 0, 0, 0, time.UTC))
	want := "Business hours, in the America/New_York time zone, where it is now Friday 22:00 (open):\n" +
		"- Monday: 09:00–17:00\n- Tuesday: closed\n- Wednesday: closed\n- Thursday: closed\n" +
		"- Friday: 20:00–01:30 the next day\n- Saturday: 10:00–24:00\n- Sunday: closed"
	if got != want {
		t.Errorf("note:\n%s\nwant:\n%s", got, want)
	}
	if (&BusinessHours{Enabled: false}).Note(time.Now()) != "" || (*BusinessHours)(nil).Note(time.Now()) != "" {
		t.Error("no hours must give no note")
	}
}
