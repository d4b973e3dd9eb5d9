// A room's interaction as the client keeps it (issue 16): chat, raised hands, reactions, Q&A (R-INT-2), the
// call to action (R-INT-4), polls and tests (R-INT-3). The server sends a snapshot on joining (join's and
// 'admitted''s `interaction`) and then, once per tick, an 'interaction' notification carrying the events
// since: {seq, kind, ...}. Events numbered at or below the snapshot's `seq` are in it already and are skipped.
// MediaserverClient keeps one of these as `client.interaction` and re-dispatches every event as a CustomEvent
// named after its kind ('chat', 'chatDeleted', 'chatState', 'chatSilenced', 'hand', 'reactions', 'qa',
// 'question', 'questionVotes', 'questionPublished', 'cta', 'ctaClicks', 'poll', 'pollKey', 'pollResults',
// 'pollShortAnswers', 'pollShown', the document's 'doc', the shared player's 'player', the whiteboard's 'board',
// 'boardCollaboration' and 'boardPage') with the event as `detail`.

/** The reactions the server accepts (mediaserver/interaction/reactions.py). */
export const REACTIONS = ['👍', '👏', '❤️', '😂', '😮', '🎉'];

/** How many chat messages the client keeps (the server's snapshot holds the last 100). */
export const CHAT_KEEP = 500;

/** Where a player state says the video is (seconds) at the server's time `serverMs`: the position while
 * paused; while playing, position + the time since `at` times the rate. */
export function playerPosition(state, serverMs) {
  if (!state || !state.source) return null;
  if (!state.playing) return state.position;
  return state.position + Math.max(0, serverMs - state.at) / 1000 * state.rate;
}

export class InteractionState {
  constructor() { this.reset(null); }

  /** Start again from a snapshot (or nothing). */
  reset(snapshot) {
    const s = snapshot || {};
    this.seq = s.seq || 0;
    const chat = s.chat || {};
    this.chat = { enabled: chat.enabled !== false, silenced: !!chat.silenced, messages: [...(chat.messages || [])],
      silencedPeople: [...(chat.silencedPeople || [])] };   // the staff: who is silenced (participant ids)
    const hands = s.hands || {};
    // an attendee's own hand: its place in the queue (as of `since`, the seq it was counted at) and its ticket
    this.hands = { queue: [...(hands.queue || [])], raised: !!hands.raised, position: hands.position || null,
      ticket: hands.ticket || null, since: hands.seq || 0 };
    this.reactionSet = (s.reactions && s.reactions.set) || REACTIONS;
    // Q&A: `questions` in the order asked (a dismissed one stays, with state 'dismissed': the staff show it
    // marked, an attendee's page hides it); `voted`: the ids this person upvoted; `published`: on the stage
    const qa = s.qa || {};
    this.qa = {
      open: !!qa.open,
      questions: [...(qa.questions || [])],
      voted: new Set(qa.voted || []),
      published: qa.published || null,
      // the ids known to be this person's: an attendee's snapshot lists them (`mine`, asked on any connection
      // of theirs, so under other participant ids too), and what they ask now
      mine: new Set(qa.mine || []),
    };
    // the call to action showing (null: none); `clicks` (the staff's count) and `clicked` (this person's)
    const cta = s.cta || {};
    this.cta = { current: cta.cta || null, clicks: cta.clicks || 0, clicked: !!cta.clicked };
    // polls and tests (R-INT-3): the open (or last closed, when its results are shown) poll without a test's
    // correct answers for attendees; whether this person answered it; its results (the staff's, or shown)
    const polls = s.polls || {};
    this.polls = {
      poll: polls.poll || null,
      answered: !!polls.answered,
      mine: polls.mine || null,   // a test this person answered: {launch, score, maxScore} (and `answers` on this page)
      results: polls.results || null,
      shortAnswers: [],   // the staff: short answers as they come (the newest last)
    };
    // the document on the stage (issue 17): {id, file: {id, name, url, pages}, page, zoom, free, by, at} or null
    this.doc = (s.doc && s.doc.doc) || null;
    // the shared video player (issue 17): {source, playing, position, at, rate, by} (source null: nothing
    // loaded); `youtubeApi`: the IFrame API script this server's pages load ('' : no YouTube)
    const player = s.player || {};
    this.player = { state: player.player || null, youtubeApi: player.youtubeApi || '' };
    // the whiteboard (issue 17, R-INT-5): the snapshot's document (a base64 Yjs update), the updates since
    // (until a Whiteboard of sdk/board.js takes them over: `keep` false), whether attendees may draw
    const board = s.board || {};
    this.board = { update: board.update || '', updates: [], keep: true, collaboration: !!board.collaboration,
      page: board.page || 0, shown: !!board.shown };   // `page`: the page the staff show; `shown`: on the stage
    this.extra = s;   // the features this client does not know yet, as the server sent them
  }

  /** The events of one notification that are new, applied to the state, in order. */
  receive(events, selfId) {
    const fresh = [];
    for (const e of events || []) {
      if (typeof e.seq === 'number') {
        if (e.seq <= this.seq) continue;
        this.seq = e.seq;
      }
      this.apply(e, selfId);
      fresh.push(e);
    }
    return fresh;
  }

  /** The reply of `hand.raise`: this attendee's place in the queue. */
  handRaised(reply) {
    if (!reply || !reply.raised) return;
    Object.assign(this.hands, { raised: true, position: reply.position, ticket: reply.ticket, since: reply.seq });
  }

  apply(e, selfId) {
    switch (e.kind) {
      case 'chat':
        this.chat.messages.push(e);
        if (this.chat.messages.length > CHAT_KEEP) this.chat.messages.splice(0, this.chat.messages.length - CHAT_KEEP);
        break;
      case 'chatDeleted':
        this.chat.messages = this.chat.messages.filter((m) => m.id !== e.id);
        break;
      case 'chatState':
        this.chat.enabled = !!e.enabled;
        break;
      case 'chatSilenced':
        if (e.participant === selfId) this.chat.silenced = !!e.silenced;
        this.chat.silencedPeople = this.chat.silencedPeople.filter((p) => p !== e.participant);
        if (e.silenced) this.chat.silencedPeople.push(e.participant);
        break;
      case 'hand':
        if (e.participant === selfId) {
          this.hands.raised = !!e.raised;
          if (!e.raised) Object.assign(this.hands, { position: null, ticket: null });
        }
        this.hands.queue = this.hands.queue.filter((h) => h.participant !== e.participant);
        if (e.raised) this.hands.queue.push({ participant: e.participant, name: e.name, at: e.at });
        break;
      case 'handDone':   // a hand ahead of this one left the queue: one place up
        if (this.hands.ticket && e.ticket < this.hands.ticket && e.seq > this.hands.since && this.hands.position > 1) {
          this.hands.position -= 1;
        }
        break;
      case 'qa':
        this.qa.open = !!e.open;
        if (!e.open) {   // closing Q&A ends it: the list, the votes and the stage go
          this.qa.questions = [];
          this.qa.voted = new Set();
          this.qa.mine = new Set();
          this.qa.published = null;
        }
        break;
      case 'question': {
        const { seq, kind, ...q } = e;
        const i = this.qa.questions.findIndex((x) => x.id === q.id);
        if (i >= 0) this.qa.questions[i] = q;
        else this.qa.questions.push(q);
        if (q.from && q.from.id === selfId) this.qa.mine.add(q.id);
        if (this.qa.published && this.qa.published.id === q.id) this.qa.published = q;
        break;
      }
      case 'questionVotes':   // absolute counts of the questions whose count changed this tick
        for (const q of this.qa.questions) {
          if (q.id in e.votes) q.votes = e.votes[q.id];
        }
        if (this.qa.published && this.qa.published.id in e.votes) {
          this.qa.published = { ...this.qa.published, votes: e.votes[this.qa.published.id] };
        }
        break;
      case 'questionPublished':
        this.qa.published = e.question || null;
        break;
      case 'cta':
        if (!e.cta || !this.cta.current || e.cta.id !== this.cta.current.id) {
          this.cta.clicks = 0;
          this.cta.clicked = false;
        }
        this.cta.current = e.cta || null;
        break;
      case 'ctaClicks':
        if (this.cta.current && this.cta.current.id === e.id) this.cta.clicks = e.clicks;
        break;
      case 'doc':
        this.doc = e.doc || null;
        break;
      case 'poll':
        if (e.state === 'open') {
          this.polls = { poll: { ...e }, answered: false, mine: null, results: null, shortAnswers: [] };
        } else if (this.polls.poll && this.polls.poll.launch === e.launch) {
          this.polls.poll = { ...this.polls.poll, state: e.state, shown: !!e.shown };
        }
        break;
      case 'pollKey':
        if (this.polls.poll && this.polls.poll.launch === e.launch) this.polls.poll.correct = e.correct;
        break;
      case 'pollShown':
        if (this.polls.poll && this.polls.poll.launch === e.launch) this.polls.poll.shown = !!e.shown;
        if (!e.shown && this.polls.poll && this.polls.poll.state === 'closed' && !this.polls.poll.correct) {
          this.polls.results = null;   // an attendee stops seeing hidden results
        }
        break;
      case 'pollResults':
        if (this.polls.poll && this.polls.poll.launch === e.launch) this.polls.results = e;
        break;
      case 'board':
        if (this.board.keep) this.board.updates.push(e.update);
        break;
      case 'boardCollaboration':
        this.board.collaboration = !!e.on;
        break;
      case 'boardPage':
        this.board.page = e.page;
        break;
      case 'boardShown':   // issue 17: the staff put the board on everyone's stage, or took it off
        this.board.shown = !!e.shown;
        break;
      case 'pollShortAnswers':
        this.polls.shortAnswers.push(...(e.answers || []));
        if (this.polls.shortAnswers.length > CHAT_KEEP) this.polls.shortAnswers.splice(0, this.polls.shortAnswers.length - CHAT_KEEP);
        break;
      case 'player':
        this.player.state = e.player || null;
        break;
      default:
    }
  }

  /** The questions a page lists: every one for the staff; an attendee's list leaves out the dismissed ones
   * except their own (`selfId`: this connection's participant id; those asked on an earlier connection are
   * known from the snapshot). */
  visibleQuestions(staff, selfId) {
    return staff ? this.qa.questions
      : this.qa.questions.filter((q) => q.state !== 'dismissed' || (q.from && q.from.id === selfId)
        || this.qa.mine.has(q.id));
  }
}
