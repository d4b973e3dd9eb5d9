// What the server tells the page (SDK events): people and tracks coming and going, the room's changes, admission,
// mutes, the floor, the active speaker, removal, the end of the session, a lost connection and its return.
import { t } from '/static/i18n.js';
import { $, fail, toast } from './dom.js';
import { renderSpeaker } from './grid.js';
import { wireInteraction } from './interact.js';
import { afterStatus, ensureSubscribed, renderLobby } from './join.js';
import { publishWhenAllowed, stopLocal, stopPublishingLocally } from './publish.js';
import { applyLanguage, renderAll } from './render.js';
import { setScreen, showError, showOver } from './screens.js';
import { langOverride, page, remote, S, syncState } from './state.js';

export function wire(c) {
  const rerender = () => { syncState(); renderAll(); };
  for (const name of ['participantJoined', 'participantLeft', 'participantUpdated', 'trackUpdated']) c.addEventListener(name, rerender);
  c.addEventListener('participantUpdated', (e) => {
    const p = e.detail.participant;
    if (p && page.client.participant && p.id === page.client.participant.id && p.canPublish === false) stopPublishingLocally();
  });
  c.addEventListener('trackPublished', () => { rerender(); ensureSubscribed(); });
  c.addEventListener('trackUnpublished', rerender);
  c.addEventListener('track', (e) => {
    const { id, track, stream } = e.detail;
    remote.set(id, { track, stream });
    track.addEventListener('ended', () => { remote.delete(id); rerender(); });
    rerender();
  });
  c.addEventListener('trackRemoved', (e) => { remote.delete(e.detail.id); rerender(); });
  c.addEventListener('roomUpdated', () => {
    const before = S.room || {};
    syncState();
    if (S.room && S.room.language && S.room.language !== before.language && !langOverride) applyLanguage(S.room.language);
    if (S.screen === 'lobby') renderLobby();
    renderAll();
  });
  c.addEventListener('admitted', () => { syncState(); toast(t('notice.admitted')); afterStatus('joined'); });
  c.addEventListener('muted', (e) => {
    const { kind, by } = e.detail;
    const who = by === 'audioMode' ? t('notice.byMode') : t('notice.byHost');
    toast(t(kind === 'video' ? 'notice.camOff' : 'notice.micOff', { who }));
    rerender();
  });
  c.addEventListener('floorGranted', async () => {
    toast(t('notice.floorGranted'));
    rerender();
    await publishWhenAllowed();
  });
  c.addEventListener('roleChanged', async (e) => {   // issue 17: the host made this person a presenter, or not
    const role = e.detail.role;
    toast(t(role === 'presenter' ? 'notice.madePresenter' : 'notice.madeAttendee'));
    syncState();
    if (role === 'attendee') stopPublishingLocally();
    rerender();
    if (role === 'presenter') await publishWhenAllowed();
  });
  c.addEventListener('floorRevoked', () => {
    toast(t('notice.floorRevoked'));
    stopPublishingLocally();
    rerender();
  });
  c.addEventListener('activeSpeaker', (e) => { S.activeSpeaker = e.detail.participant; renderSpeaker(); });
  c.addEventListener('screenEnded', () => { page.screenStream = null; rerender(); });
  c.addEventListener('removed', (e) => {
    page.leaving = true;
    stopLocal();
    const reason = String((e.detail && e.detail.reason) || '');
    S.error = /host/i.test(reason) ? 'removed' : reason ? 'connection_lost' : 'removed';
    $('#removed-title').textContent = t(S.error === 'removed' ? 'removed.byHost' : 'removed.lost');
    $('#removed-text').textContent = t(S.error === 'removed' ? 'removed.byHostText' : 'removed.lostText');
    syncState();
    setScreen('removed');
    page.client.leave();
  });
  c.addEventListener('ended', () => {
    page.leaving = true;
    stopLocal();
    syncState();
    // R-STAT-3: when the host ends the event, attendees go to its thank-you page (the host stays).
    showOver('session', S.role !== 'host' ? S.thankYouUrl : null);
    page.client.leave();
  });
  // A lost connection (e.g. the server restarted): the SDK joins again and sends and receives as before.
  c.addEventListener('reconnecting', () => {
    document.body.dataset.connection = 'reconnecting';
    remote.clear();
    toast(t('notice.reconnecting'), 'error');
    rerender();
  });
  c.addEventListener('reconnected', (e) => {
    document.body.dataset.connection = 'live';
    toast(t('notice.reconnected'));
    const status = (e.detail.info.participant || {}).status || 'joined';
    if (S.screen === 'room' && status === 'joined') { page.subscribed = page.subscribed || !!c.sub; rerender(); }
    else afterStatus(status);
  });
  wireInteraction(c);                          // chat, hands, reactions (issue 16)
  c.addEventListener('error', (e) => fail(e.detail.error));
  c.addEventListener('close', () => {
    if (page.leaving || c !== page.client) return;
    stopLocal();
    showError('closed');
  });
}
