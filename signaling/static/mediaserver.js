// Kept for the demo page and older embedders: the browser client now lives in the SDK (signaling/sdk/, served
// at /sdk/; docs/sdk.md). Same API: MediaserverClient with join/publish(stream, {videoCodec})/subscribe/
// leave/whip, events 'track' and 'trackPublished', option iceTransport.
export * from '/sdk/mediaserver.js';
export { default } from '/sdk/mediaserver.js';
