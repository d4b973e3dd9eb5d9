// The room's interaction on the page (issue 16): the SDK's events ('chat', 'chatDeleted', 'chatState',
// 'chatSilenced', 'hand', 'handDone', 'reactions', Q&A's 'qa', 'question', 'questionVotes', 'questionPublished', the call to
// action's 'cta', 'ctaClicks', the polls' 'poll', 'pollKey', 'pollResults', 'pollShortAnswers', 'pollShown', and a new snapshot on admission or reconnection) to the Chat tab, the raised
// hands, the floating reactions, the Q&A tab and stage banner and the call to action; renderInteraction for
// renderAll. Events of features this page does not know are ignored (the SDK keeps them in
// client.interaction.extra).
import { t } from '/static/i18n.js';
import { bindBoard, renderBoard, wireBoard } from './board.js';
import { bindChat, chatAdded, chatRemoved, chatSilenced, rebuildChat, renderChat } from './chat.js';
import { bindCta, renderCta } from './cta.js';
import { toast } from './dom.js';
import { bindHands, renderHands } from './hands.js';
import { renderPeople } from './people.js';
import { bindDocuments, renderDoc } from './docview.js';
import { bindPolls, pollEvent, renderPolls } from './polls.js';
import { bindQA, renderQA } from './qa.js';
import { bindReactions, floatReactions } from './reactions.js';
import { bindPlayer, renderPlayer, wirePlayer } from './player.js';
import { page, S } from './state.js';
import { bindTabs, renderTabs } from './tabs.js';

export function wireInteraction(c) {
  const mine = (f) => (e) => { if (c === page.client) f(e.detail || {}); };
  c.addEventListener('chat', mine((d) => chatAdded(d)));
  c.addEventListener('chatDeleted', mine((d) => chatRemoved(d.id)));
  c.addEventListener('chatState', mine((d) => {
    if (S.role === 'attendee') toast(t(d.enabled ? 'chat.onNotice' : 'chat.offNotice'));
    renderChat();
  }));
  // the people list is redrawn only while it shows (a webinar's host may list thousands)
  const people = () => { if (page.openPanel === 'people') renderPeople(); };
  c.addEventListener('chatSilenced', mine((d) => { chatSilenced(d); renderChat(); people(); }));
  c.addEventListener('hand', mine(() => { renderHands(); renderTabs(); people(); }));
  c.addEventListener('handDone', mine(() => renderHands()));   // one's place in the queue moved up
  c.addEventListener('reactions', mine((d) => floatReactions(d.counts)));
  for (const name of ['qa', 'question', 'questionVotes', 'questionPublished']) {
    c.addEventListener(name, mine(() => { renderQA(); renderTabs(); }));   // the tab's label counts them
  }
  for (const name of ['cta', 'ctaClicks']) c.addEventListener(name, mine(renderCta));
  for (const name of ['poll', 'pollKey', 'pollResults', 'pollShortAnswers', 'pollShown']) {
    c.addEventListener(name, mine((d) => { pollEvent(name, d); renderTabs(); }));
  }
  c.addEventListener('doc', mine(renderDoc));   // issue 17: the document on the stage
  wireBoard(c);   // the whiteboard (issue 17)
  c.addEventListener('boardCollaboration', mine(() => renderBoard()));
  c.addEventListener('boardShown', mine(() => renderDoc()));   // the board on everyone's stage (docview.js)
  for (const name of ['admitted', 'reconnected', 'roleChanged']) {
    c.addEventListener(name, mine(() => { rebuildChat(); renderQA(); renderCta(); renderPolls(); renderTabs(); renderDoc(); }));
  }
  wirePlayer(c);   // issue 17: the shared video player
}

/** The interaction's part of renderAll. */
export function renderInteraction() {
  renderQA();
  renderPolls();
  renderTabs();
  renderChat();
  renderHands();
  renderCta();
  renderDoc();
  renderPlayer();
  renderBoard();
}

export function bindInteraction() {
  bindDocuments();
  bindTabs();
  bindChat();
  bindHands();
  bindReactions();
  bindQA();
  bindCta();
  bindPolls();
  bindPlayer();
  bindBoard();
}
