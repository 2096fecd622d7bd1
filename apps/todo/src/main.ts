import { mount } from 'svelte';
import App from './App.svelte';
import { db, sync } from './db.js';

mount(App, { target: document.getElementById('app')! });
void sync.start();
// Tests and curious developers can reach the client from the console.
Object.assign(globalThis, { manaSync: sync, manaDb: db });
