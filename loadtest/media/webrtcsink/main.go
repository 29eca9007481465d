// webrtcsink: many browser-shaped WebRTC receivers in one process, for the media bench.
//
// Each receiver is a real peer connection (pion/webrtc): it answers an SDP offer built from a
// mediasoup receive transport and its consumers, completes ICE and DTLS on 127.0.0.1, decrypts
// SRTP (only AEAD_AES_256_GCM by default, the suite Chromium negotiates with mediasoup, so a
// connected receiver proves that suite; -srtp picks another), sends NACKs, receiver reports, PLIs and
// transport-wide congestion control feedback like a browser, repairs losses from RTX, and counts
// what it receives per SSRC. Nothing is decoded.
//
// Protocol: JSON lines on stdin, JSON lines on stdout.
//
//	{"op":"offer","id":"v1","sdp":"..."}  -> {"op":"answer","id":"v1","sdp":"..."}
//	{"op":"close","id":"v1"}              -> {"op":"closed","id":"v1"}
//	{"op":"stats"}                        -> {"op":"stats","at":<ms>,"connected":n,"streams":[...]}
//	                                         (connection state changes: {"op":"state","id":..,"state":..})
//
// A stream's "lost" counts sequence numbers that were skipped and had not arrived (as RTX
// repairs or late) when asked, and that are older than the reorder grace.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

type command struct {
	Op  string `json:"op"`
	ID  string `json:"id"`
	SDP string `json:"sdp"`
}

// stream counts one SSRC of one receiver.
type stream struct {
	mu        sync.Mutex
	id        string
	kind      string
	ssrc      uint32
	packets   uint64
	bytes     uint64
	started   bool
	highest   uint64 // extended sequence number
	first     uint64
	missing   map[uint64]time.Time
	recovered uint64
	// unique media packets (each sequence number once), duplicates, and padding-only packets
	// (bandwidth probing), which carry no media and are not counted as received media
	unique     uint64
	duplicates uint64
	padding    uint64
}

// rtpPayloadSize is the media payload of an RTP packet: after the header, CSRCs and
// extension, without padding.
func rtpPayloadSize(b []byte) int {
	if len(b) < 12 {
		return 0
	}
	n := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 && len(b) >= n+4 {
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:n+4]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	return end - n
}

func (s *stream) add(pkt []byte, now time.Time) {
	seq := binary.BigEndian.Uint16(pkt[2:4])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packets++
	s.bytes += uint64(len(pkt))
	if rtpPayloadSize(pkt) <= 0 {
		s.padding++
		return
	}
	if !s.started {
		s.started = true
		s.highest = uint64(seq)
		s.first = s.highest
		s.unique++
		return
	}
	// Extend the 16-bit sequence number around the highest seen.
	ext := (s.highest &^ 0xffff) | uint64(seq)
	if ext+0x8000 < s.highest {
		ext += 0x10000
	} else if ext > s.highest+0x8000 && ext >= 0x10000 {
		ext -= 0x10000
	}
	switch {
	case ext > s.highest:
		for m := s.highest + 1; m < ext && len(s.missing) < 100000; m++ {
			s.missing[m] = now
		}
		s.highest = ext
		s.unique++
	default:
		if _, ok := s.missing[ext]; ok {
			delete(s.missing, ext)
			s.recovered++
			s.unique++
		} else {
			s.duplicates++
		}
	}
}

type streamStats struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	SSRC      uint32 `json:"ssrc"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	Expected  uint64 `json:"expected"`
	Lost      int    `json:"lost"`
	Pending   int    `json:"pending"`
	Recovered uint64 `json:"recovered"`
	// Unique media packets: each sequence number once, padding-only packets left out.
	Unique     uint64 `json:"unique"`
	Duplicates uint64 `json:"duplicates"`
	Padding    uint64 `json:"padding"`
}

func (s *stream) stats(now time.Time, grace time.Duration) streamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := streamStats{ID: s.id, Kind: s.kind, SSRC: s.ssrc, Packets: s.packets, Bytes: s.bytes, Recovered: s.recovered, Unique: s.unique, Duplicates: s.duplicates, Padding: s.padding}
	if s.started {
		out.Expected = s.highest - s.first + 1
	}
	for _, at := range s.missing {
		if now.Sub(at) > grace {
			out.Lost++
		} else {
			out.Pending++
		}
	}
	return out
}

type sink struct {
	api     *webrtc.API
	out     *json.Encoder
	outMu   sync.Mutex
	mu      sync.Mutex
	peers   map[string]*webrtc.PeerConnection
	state   map[string]webrtc.PeerConnectionState
	streams []*stream
	// Bandwidth probation packets mediasoup sent on its probator SSRC (padding, never media).
	probation atomic.Uint64
}

// probatorSSRC is mediasoup's bandwidth probation stream, declared in the offer as
// mediasoup-client does: its packets must be read (so transport-cc feedback covers them),
// and count as padding, not as a media stream.
const probatorSSRC = 1234

func (k *sink) send(v any) {
	k.outMu.Lock()
	defer k.outMu.Unlock()
	_ = k.out.Encode(v)
}

func (k *sink) fail(id, msg string) {
	k.send(map[string]any{"op": "error", "id": id, "error": msg})
}

func (k *sink) offer(id, sdp string) {
	pc, err := k.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		k.fail(id, err.Error())
		return
	}
	k.mu.Lock()
	k.peers[id] = pc
	k.mu.Unlock()
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		k.mu.Lock()
		k.state[id] = s
		k.mu.Unlock()
		k.send(map[string]any{"op": "state", "id": id, "state": s.String()})
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if uint32(t.SSRC()) == probatorSSRC {
			go func() {
				buf := make([]byte, 1500)
				for {
					if _, _, err := t.Read(buf); err != nil {
						return
					}
					k.probation.Add(1)
				}
			}()
			return
		}
		st := &stream{id: id, kind: t.Kind().String(), ssrc: uint32(t.SSRC()), missing: map[uint64]time.Time{}}
		k.mu.Lock()
		k.streams = append(k.streams, st)
		k.mu.Unlock()
		go func() {
			buf := make([]byte, 1500)
			for {
				// Read returns RTP (RTX repairs already rewritten to the original stream).
				n, _, err := t.Read(buf)
				if err != nil {
					return
				}
				if n >= 12 {
					st.add(buf[:n], time.Now())
				}
			}
		}()
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		k.fail(id, "setRemoteDescription: "+err.Error())
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		k.fail(id, "createAnswer: "+err.Error())
		return
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		k.fail(id, "setLocalDescription: "+err.Error())
		return
	}
	<-gathered
	k.send(map[string]any{"op": "answer", "id": id, "sdp": pc.LocalDescription().SDP})
}

func (k *sink) close(id string) {
	k.mu.Lock()
	pc := k.peers[id]
	delete(k.peers, id)
	k.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
	}
	k.send(map[string]any{"op": "closed", "id": id})
}

func (k *sink) stats() {
	now := time.Now()
	k.mu.Lock()
	streams := append([]*stream(nil), k.streams...)
	connected := 0
	for _, s := range k.state {
		if s == webrtc.PeerConnectionStateConnected {
			connected++
		}
	}
	k.mu.Unlock()
	out := make([]streamStats, 0, len(streams))
	for _, s := range streams {
		out = append(out, s.stats(now, time.Second))
	}
	k.send(map[string]any{"op": "stats", "at": now.UnixMilli(), "connected": connected, "streams": out, "probation": k.probation.Load()})
}

var profiles = map[string]dtls.SRTPProtectionProfile{
	"aead_aes_256_gcm":       dtls.SRTP_AEAD_AES_256_GCM,
	"aead_aes_128_gcm":       dtls.SRTP_AEAD_AES_128_GCM,
	"aes128_cm_hmac_sha1_80": dtls.SRTP_AES128_CM_HMAC_SHA1_80,
}

func main() {
	srtpName := flag.String("srtp", "aead_aes_256_gcm", "the only SRTP protection profile offered: aead_aes_256_gcm, aead_aes_128_gcm or aes128_cm_hmac_sha1_80")
	flag.Parse()
	profile, ok := profiles[*srtpName]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown -srtp %q\n", *srtpName)
		os.Exit(2)
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		panic(err)
	}
	// NACK generator, receiver reports, stats, TWCC feedback: what a browser's receiver sends.
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		panic(err)
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetSRTPProtectionProfiles(profile)
	// No mDNS: candidates are plain 127.0.0.1.
	se.SetICEMulticastDNSMode(0)
	k := &sink{
		api:   webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)),
		out:   json.NewEncoder(os.Stdout),
		peers: map[string]*webrtc.PeerConnection{},
		state: map[string]webrtc.PeerConnectionState{},
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	for in.Scan() {
		var c command
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			k.fail("", fmt.Sprintf("bad command: %v", err))
			continue
		}
		switch c.Op {
		case "offer":
			go k.offer(c.ID, c.SDP)
		case "close":
			k.close(c.ID)
		case "stats":
			k.stats()
		default:
			k.fail(c.ID, "unknown op "+c.Op)
		}
	}
	k.mu.Lock()
	for _, pc := range k.peers {
		_ = pc.Close()
	}
	k.mu.Unlock()
}
