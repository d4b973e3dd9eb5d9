// window.roomStats(): received and sent media counters from the page's connections, for tests and diagnostics.
import { page } from './state.js';

window.roomStats = async () => {
  const out = { framesDecoded: 0, audioPackets: 0, audioLevel: 0, framesSent: 0, videoPackets: 0 };
  if (!page.client) return out;
  const pcs = [page.client.sub, ...page.client.publications.map((p) => p.pc)].filter(Boolean);
  for (const pc of pcs) {
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') { out.framesDecoded += s.framesDecoded || 0; out.videoPackets += s.packetsReceived || 0; }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.audioPackets += s.packetsReceived || 0;
        if (typeof s.audioLevel === 'number') out.audioLevel = Math.max(out.audioLevel, s.audioLevel);
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') out.framesSent += s.framesSent || 0;
    });
  }
  return out;
};
