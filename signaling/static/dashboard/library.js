// The dashboard's Library (issue 20 item 4): the file library with the storage quota and resumable uploads
// (R-FILE-1..4), the address book with groups and the import of CSV/XLS/XLSX files (R-ACC-6, R-FILE-5), and the
// recordings: play, trim with a preview, publish, send, an on-demand event with lead capture, delete (R-REC-4,
// R-REC-5), and a live event's streaming to an RTMP service (streams.js, R-REC-6). Everything goes through
// /api/v1 (docs/api.md). Ticket orders and the payment provider: tickets.js.
import './library-strings.js';
import { $, api, button, cell, el, say, t, when } from './core.js';
import { everything } from './paging.js';
import { ResumableUpload } from './upload.js';
import { setupStreams, showStreams } from './streams.js';
import { setupTickets, showTickets } from './tickets.js';

export { showTickets };

const PAGE = 50;
let contactsOffset = 0;
let upload = null;        // the ResumableUpload under way
let watching = null;      // the recording in the player
let membersOf = null;     // the group whose members are shown
let allowance = null;     // the plan's recording minutes (R-REC-2), from /me

/** Bytes for people: 1.5 MB, 730 KB. */
export function size(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0; let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i ? v.toFixed(v < 10 ? 1 : 0) : v} ${units[i]}`;
}

const pct = (a, b) => (b ? Math.floor((a / b) * 100) : 100);

const TYPES = {
  video: 'asf avi mkv mov qt mpeg mpg mp4 mp4v m4v m4e ogm ogv webm wmv flv 3gp',
  audio: 'mp3 wav ogg oga opus m4a aac flac wma',
  image: 'jpg jpeg png gif bmp webp svg tif tiff',
  pdf: 'pdf',
  document: 'doc docx odt txt rtf pages',
  presentation: 'ppt pptx odp key',
  spreadsheet: 'xls xlsx ods csv numbers',
  archive: 'zip rar 7z gz tar',
};

/** What kind of file a name is, by its extension (the library stores names, not types). */
export function typeOf(f) {
  if (f.source === 'recording') return t('lib.t_recording');
  const ext = (f.name.match(/\.([^.]+)$/) || [])[1]?.toLowerCase() || '';
  for (const [kind, exts] of Object.entries(TYPES)) if (exts.split(' ').includes(ext)) return t(`lib.t_${kind}`);
  return t('lib.t_other');
}

/** Show the whole section. */
export async function showLibrary(me) {
  allowance = me && me.limits ? me.limits.recording_minutes : null;
  const section = $('section-library');
  section.setAttribute('aria-busy', 'true');   // its lists are being drawn anew
  try {
    await Promise.all([listFiles(), listContacts(), listGroups(), listRecordings(), showStreams()]);
  } finally { section.removeAttribute('aria-busy'); }
}

// ---------------------------------------------------------------- files (R-FILE-1..4)

async function listFiles() {
  const got = await everything('/files');
  $('lib-quota').max = got.quotaBytes || 1;
  $('lib-quota').value = Math.min(got.usedBytes, got.quotaBytes);
  $('lib-quota-text').textContent = t('lib.quota', {
    used: size(got.usedBytes), total: size(got.quotaBytes), pct: pct(got.usedBytes, got.quotaBytes),
  });
  $('lib-quota').dataset.used = got.usedBytes; $('lib-quota').dataset.total = got.quotaBytes;
  const body = $('lib-files'); body.textContent = '';
  for (const f of got.items) {
    const tr = el('tr', { 'data-id': f.id });
    cell(tr, f.name).className = 'url';
    cell(tr, typeOf(f));
    cell(tr, size(f.size) + (f.status === 'complete' ? '' : ` (${t('lib.unfinished')})`));
    cell(tr, when(f.createdAt));
    const actions = cell(tr, ''); actions.className = 'actions';
    const link = el('a', { href: `/api/v1/files/${f.id}/content`, className: 'button small', textContent: t('lib.download') });
    link.setAttribute('download', f.name);
    link.setAttribute('aria-label', `${t('lib.download')}: ${f.name}`);
    if (f.status === 'complete') actions.append(link);   // an unfinished upload has nothing to download yet
    actions.append(button(t('dash.delete'), 'small danger lib-file-delete', () => deleteFile(f), `${t('dash.delete')}: ${f.name}`));
    body.append(tr);
  }
  $('lib-files-note').textContent = got.items.length ? '' : t('lib.noFiles');
}

async function deleteFile(f) {
  if (!confirm(t('lib.confirmDeleteFile', { name: f.name }))) return;
  try {
    await api('DELETE', `/files/${f.id}`);
    await listFiles();
    $('lib-files-note').textContent = t('lib.deleted', { name: f.name });
  } catch (e) { say('lib-files-error', e.message); }
}

function uploadState(name, d) {
  const box = $('lib-upload-box');
  box.dataset.state = name;
  const total = upload.file.size; const at = upload.offset;
  const status = {
    starting: () => t('lib.upStarting'),
    uploading: () => (box.dataset.resumedFrom ? null : t('lib.upSending')),   // a resume's words stay
    interrupted: () => t('lib.upInterrupted', { at: size(d.at), pct: pct(d.at, total), secs: d.retryIn / 1000 }),
    resumed: () => { box.dataset.resumedFrom = d.from; return t('lib.upResumed', { from: d.from, pct: pct(d.from, total) }); },
    stalled: () => t('lib.upStalled', { at: size(at), pct: pct(at, total) }),
    done: () => t('lib.upDone', { name: upload.file.name }),
    failed: () => t('lib.upFailed', { error: d.error.message }),
    cancelled: () => t('lib.upCancelled'),
  }[name]();
  if (status !== null && box.dataset.said !== status) { say('lib-upload-status', status); box.dataset.said = status; }
  $('lib-upload-resume').hidden = name !== 'stalled' && name !== 'interrupted';
  if (name === 'cancelled') { $('lib-upload-bytes').textContent = ''; $('lib-upload-progress').value = 0; }
  const over = name === 'done' || name === 'failed' || name === 'cancelled';
  $('lib-upload-cancel').hidden = over;
  $('lib-upload-start').disabled = !over;
  if (over) listFiles().catch((e) => say('lib-files-error', e.message));
}

/** The bar and the bytes sent (not in the status line, which a screen reader reads out at each change). */
function uploadProgress(sent, total) {
  const words = t('lib.upUploading', { sent: size(sent), total: size(total), pct: pct(sent, total) });
  $('lib-upload-progress').max = total || 1;
  $('lib-upload-progress').value = sent;
  $('lib-upload-progress').setAttribute('aria-valuetext', words);
  $('lib-upload-bytes').textContent = words;
}

function startUpload(file) {
  say('lib-files-error', '');
  const box = $('lib-upload-box');
  box.hidden = false;
  delete box.dataset.resumedFrom; delete box.dataset.said;
  $('lib-upload-name').textContent = t('lib.upName', { name: file.name });
  upload = new ResumableUpload(file, { state: uploadState, progress: uploadProgress });
  uploadProgress(0, file.size);
  upload.start().catch((e) => uploadState('failed', { error: e }));
}

// ---------------------------------------------------------------- contacts and groups (R-ACC-6)

let editing = null;   // the contact in the form, or null: a new one

async function listContacts() {
  const got = await api('GET', `/contacts?limit=${PAGE}&offset=${contactsOffset}`);
  if (!got.items.length && contactsOffset > 0) {   // the last one of a page deleted: the page before
    contactsOffset = Math.max(0, contactsOffset - PAGE);
    return listContacts();
  }
  const body = $('lib-contacts'); body.textContent = '';
  for (const c of got.items) {
    const tr = el('tr', { 'data-id': c.id });
    const who = c.name || c.email || '';
    cell(tr, c.name); cell(tr, c.email || ''); cell(tr, c.phone); cell(tr, c.company);
    const actions = cell(tr, ''); actions.className = 'actions';
    actions.append(
      button(t('lib.edit'), 'small lib-contact-edit', () => editContact(c), `${t('lib.edit')}: ${who}`),
      button(t('dash.delete'), 'small danger lib-contact-delete', async () => {
        if (!confirm(t('lib.confirmDeleteContact', { name: who }))) return;
        try { await api('DELETE', `/contacts/${c.id}`); await Promise.all([listContacts(), listGroups()]); } catch (e) { say('lib-contacts-error', e.message); }
      }, `${t('dash.delete')}: ${who}`));
    body.append(tr);
  }
  $('lib-contacts-note').textContent = got.total
    ? t('lib.contactsCount', { from: got.offset + 1, to: got.offset + got.items.length, total: got.total })
    : t('lib.noContacts');
  $('lib-contacts-prev').hidden = contactsOffset === 0;
  $('lib-contacts-next').hidden = contactsOffset + PAGE >= got.total;
  await fillMemberPicker();
}

function editContact(c) {
  editing = c;
  $('lib-contact-name').value = c ? c.name : '';
  $('lib-contact-email').value = c ? c.email || '' : '';
  $('lib-contact-phone').value = c ? c.phone : '';
  $('lib-contact-company').value = c ? c.company : '';
  $('lib-contact-save').textContent = t(c ? 'lib.contactSave' : 'lib.contactAdd');
  $('lib-contact-cancel').hidden = !c;
  if (c) $('lib-contact-name').focus();
}

async function listGroups() {
  const got = await api('GET', '/groups');
  const body = $('lib-groups'); body.textContent = '';
  for (const g of got.items) {
    const tr = el('tr', { 'data-id': g.id });
    cell(tr, g.name); cell(tr, t(`lib.g_${g.kind}`)); cell(tr, String(g.members));
    const actions = cell(tr, ''); actions.className = 'actions';
    actions.append(
      button(t('lib.showMembers'), 'small lib-group-members', () => showMembers(g), `${t('lib.showMembers')}: ${g.name}`),
      button(t('dash.delete'), 'small danger lib-group-delete', async () => {
        if (!confirm(t('lib.confirmDeleteGroup', { name: g.name }))) return;
        try {
          await api('DELETE', `/groups/${g.id}`);
          if (membersOf && membersOf.id === g.id) { membersOf = null; $('lib-members-view').hidden = true; }
          await listGroups();
        } catch (e) { say('lib-groups-error', e.message); }
      }, `${t('dash.delete')}: ${g.name}`));
    body.append(tr);
  }
  const pick = $('lib-import-group'); const was = pick.value;
  pick.textContent = '';
  pick.append(el('option', { value: '', textContent: t('lib.noGroup') }));
  for (const g of got.items) pick.append(el('option', { value: String(g.id), textContent: g.name }));
  pick.value = got.items.some((g) => String(g.id) === was) ? was : '';
  if (membersOf) {
    const again = got.items.find((g) => g.id === membersOf.id);
    if (again) await showMembers(again); else { membersOf = null; $('lib-members-view').hidden = true; }
  }
}

async function showMembers(g) {
  membersOf = g;
  $('lib-members-group').textContent = g.name;
  $('lib-members-view').hidden = false;
  const got = await everything(`/groups/${g.id}/members`);
  const body = $('lib-members'); body.textContent = '';
  for (const c of got.items) {
    const tr = el('tr', { 'data-id': c.id });
    cell(tr, c.name); cell(tr, c.email || '');
    cell(tr, '').append(button(t('lib.removeFromGroup'), 'small lib-member-remove', async () => {
      try { await api('DELETE', `/groups/${g.id}/members/${c.id}`); await listGroups(); } catch (e) { say('lib-groups-error', e.message); }
    }, `${t('lib.removeFromGroup')}: ${c.name || c.email}`));
    body.append(tr);
  }
  $('lib-members-note').textContent = got.total ? '' : t('lib.noMembers');
}

/** The contacts one may add to a group (the first 1000 of the address book). */
async function fillMemberPicker() {
  const got = await everything('/contacts');
  const pick = $('lib-member-contact'); pick.textContent = '';
  for (const c of got.items) {
    pick.append(el('option', { value: String(c.id), textContent: c.email ? `${c.name} <${c.email}>` : c.name }));
  }
}

/** The import through XHR, for the progress of the file's sending (the server answers once it read it). */
function importFile(file, groupId) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/contacts/import' + (groupId ? `?groupId=${groupId}` : ''));
    const bar = $('lib-import-progress');
    bar.hidden = false; bar.max = 1; bar.value = 0;
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      bar.max = ev.total; bar.value = ev.loaded;
      say('lib-import-status', t('lib.importSending', { pct: pct(ev.loaded, ev.total) }));
    };
    xhr.upload.onload = () => { bar.removeAttribute('value'); say('lib-import-status', t('lib.importReading')); };
    xhr.onerror = () => reject(new Error('network'));
    xhr.onload = () => {
      bar.hidden = true;
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 201) resolve(data);
      else reject(new Error(data && data.error ? data.error.message : `HTTP ${xhr.status}`));
    };
    const form = new FormData();
    form.append('file', file);
    xhr.send(form);
  });
}

function showImport(got) {
  $('lib-import-result').hidden = false;
  $('lib-import-format').textContent = got.format.toUpperCase();
  $('lib-import-encoding').textContent = got.encoding || t('lib.importNoEncoding');
  $('lib-import-added').textContent = String(got.imported);
  $('lib-import-there').textContent = String(got.alreadyThere);
  const body = $('lib-import-refused'); body.textContent = '';
  for (const s of got.skipped) {
    const tr = el('tr');
    cell(tr, String(s.line)); cell(tr, s.reason);
    body.append(tr);
  }
  if (!got.skipped.length) { const tr = el('tr'); cell(tr, ''); cell(tr, t('lib.noneRefused')); body.append(tr); }
  say('lib-import-status', t('lib.importDone', { n: got.imported }));
}

// ---------------------------------------------------------------- recordings (R-REC-4, R-REC-5)

function seconds(s) {
  const m = Math.floor(s / 60); const r = Math.round(s % 60);
  return `${m}:${String(r).padStart(2, '0')}`;
}

async function listRecordings() {
  const got = await api('GET', '/recordings?limit=100');
  const used = Math.round(got.usedMinutes * 10) / 10;
  $('lib-recs-minutes').textContent = typeof allowance === 'number'
    ? t('lib.recsMinutesOf', { n: used, of: allowance }) : t('lib.recsMinutes', { n: used });
  const body = $('lib-recs'); body.textContent = '';
  for (const r of got.items) {
    const tr = el('tr', { 'data-id': r.id, 'data-status': r.status });
    cell(tr, r.name);
    cell(tr, t(`lib.r_${r.status}`));
    cell(tr, seconds(r.duration));
    cell(tr, size(r.size));
    const link = cell(tr, ''); link.className = 'url';
    if (r.publicUrl) link.append(el('a', { href: r.publicUrl, target: '_blank', rel: 'noopener', textContent: r.publicUrl, className: 'lib-rec-link' }));
    const actions = cell(tr, ''); actions.className = 'actions';
    const act = (label, cls, fn) => button(t(label), `small ${cls}`, async () => {
      say('lib-recs-error', '');
      try { await fn(); } catch (e) { say('lib-recs-error', e.message); }
    }, `${t(label)}: ${r.name}`);
    if (r.status === 'ready') {
      actions.append(act('lib.play', 'lib-rec-play', () => play(r)));
      if (r.published) {
        actions.append(
          act('lib.unpublish', 'lib-rec-unpublish', async () => { await api('POST', `/recordings/${r.id}/unpublish`); await listRecordings(); }),
          act('lib.send', 'lib-rec-send', async () => {
            const sent = await api('POST', `/recordings/${r.id}/send`);
            $('lib-recs-note').textContent = t('lib.sent', { n: sent.sent });
          }));
      } else {
        actions.append(act('lib.publish', 'primary lib-rec-publish', async () => { await api('POST', `/recordings/${r.id}/publish`); await listRecordings(); }));
      }
      actions.append(act('lib.leads', 'lib-rec-leads', async () => {
        // R-REC-5: the recording played on demand to viewers who give their e-mail; they land in a "Leads" group
        const ev = await api('POST', '/events', {
          kind: 'on_demand', name: r.name, language: r.language, videoFileId: r.fileId, options: { leadCapture: true },
        });
        $('lib-recs-note').textContent = t('lib.leadsMade', { name: ev.name, url: new URL(`/watch/${ev.roomId}`, location.href).href });
        await listGroups();
      }));
    }
    if (r.status !== 'recording') {
      actions.append(act('dash.delete', 'danger lib-rec-delete', async () => {
        if (!confirm(t('lib.confirmDeleteRec', { name: r.name }))) return;
        await api('DELETE', `/recordings/${r.id}`);
        if (watching && watching.id === r.id) { watching = null; $('lib-rec-view').hidden = true; $('lib-rec-video').removeAttribute('src'); }
        await Promise.all([listRecordings(), listFiles()]);
      }));
    }
    body.append(tr);
  }
  $('lib-recs-note').textContent = got.items.length ? $('lib-recs-note').textContent : t('lib.noRecs');
}

function play(r) {
  watching = r;
  $('lib-rec-view').hidden = false;
  $('lib-rec-name').textContent = r.name;
  const v = $('lib-rec-video');
  v.src = `/api/v1/files/${r.fileId}/content`;
  $('lib-trim-in').value = '0';
  $('lib-trim-out').value = String(Math.round(r.duration * 10) / 10);
  $('lib-trim-in').max = $('lib-trim-out').max = String(r.duration);
  say('lib-trim-note', '');
  v.focus();
}

let previewStop = null;   // the running preview's timeupdate listener

/** The preview: the video from the in point, paused at the out point (a new preview replaces the last). */
function preview() {
  const v = $('lib-rec-video');
  const from = Number($('lib-trim-in').value); const to = Number($('lib-trim-out').value);
  if (previewStop) v.removeEventListener('timeupdate', previewStop);
  delete v.dataset.previewDone;
  previewStop = () => {
    if (v.currentTime < to) return;
    v.pause(); v.currentTime = to;
    v.removeEventListener('timeupdate', previewStop); previewStop = null;
    v.dataset.previewDone = '1';
  };
  v.currentTime = from;
  v.addEventListener('timeupdate', previewStop);
  v.play().catch(() => {});
}

// ---------------------------------------------------------------- wiring

/** Wire the forms (once). */
export function setupLibrary() {
  $('lib-upload-form').onsubmit = (ev) => {
    ev.preventDefault();
    const file = $('lib-upload-file').files[0];
    if (file) startUpload(file);
  };
  $('lib-upload-resume').onclick = () => { if (upload) upload.resume(); };
  $('lib-upload-cancel').onclick = () => { if (upload) upload.cancel(); };

  $('lib-contact-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const body = {
      name: $('lib-contact-name').value.trim(), email: $('lib-contact-email').value.trim() || null,
      phone: $('lib-contact-phone').value.trim(), company: $('lib-contact-company').value.trim(),
    };
    try {
      if (editing) await api('PATCH', `/contacts/${editing.id}`, body); else await api('POST', '/contacts', body);
      say('lib-contacts-error', '');
      editContact(null);
      await Promise.all([listContacts(), listGroups()]);
    } catch (e) { say('lib-contacts-error', e.message); }
  };
  $('lib-contact-cancel').onclick = () => editContact(null);
  $('lib-contacts-prev').onclick = () => { contactsOffset = Math.max(0, contactsOffset - PAGE); listContacts(); };
  $('lib-contacts-next').onclick = () => { contactsOffset += PAGE; listContacts(); };

  $('lib-import-form').onsubmit = async (ev) => {
    ev.preventDefault();
    const file = $('lib-import-file').files[0];
    if (!file) return;
    say('lib-import-error', ''); $('lib-import-result').hidden = true;
    $('lib-import-start').disabled = true;
    try {
      showImport(await importFile(file, $('lib-import-group').value));
      await Promise.all([listContacts(), listGroups()]);
    } catch (e) { say('lib-import-status', ''); say('lib-import-error', e.message); } finally { $('lib-import-start').disabled = false; }
  };

  $('lib-group-form').onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/groups', { name: $('lib-group-name').value.trim() });
      $('lib-group-name').value = ''; say('lib-groups-error', '');
      await listGroups();
    } catch (e) { say('lib-groups-error', e.message); }
  };
  $('lib-member-form').onsubmit = async (ev) => {
    ev.preventDefault();
    if (!membersOf || !$('lib-member-contact').value) return;
    try {
      await api('POST', `/groups/${membersOf.id}/members`, { contactIds: [Number($('lib-member-contact').value)] });
      await listGroups();
    } catch (e) { say('lib-groups-error', e.message); }
  };

  const at = (id) => () => { $(id).value = String(Math.round($('lib-rec-video').currentTime * 10) / 10); };
  $('lib-trim-set-in').onclick = at('lib-trim-in');
  $('lib-trim-set-out').onclick = at('lib-trim-out');
  $('lib-trim-preview').onclick = preview;
  $('lib-trim-form').onsubmit = async (ev) => {
    ev.preventDefault();
    if (!watching) return;
    try {
      const cut = await api('POST', `/recordings/${watching.id}/trim`, {
        start: Number($('lib-trim-in').value), end: Number($('lib-trim-out').value),
      });
      say('lib-trim-note', t('lib.trimmed', { secs: Math.round(cut.duration * 10) / 10 }));
      // the new recording is processed in the background: follow it until it is ready
      for (let i = 0; i < 60; i++) {
        await listRecordings();
        const now = await api('GET', `/recordings/${cut.id}`);
        if (now.status !== 'processing' && now.status !== 'recording') break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      await Promise.all([listRecordings(), listFiles()]);
    } catch (e) { say('lib-recs-error', e.message); }
  };
  setupStreams();
  setupTickets();
}
