import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { connect } from './lib/api.js';
import { AppState } from './lib/state/app.svelte.js';

const state = new AppState(connect());
mount(App, { target: document.getElementById("app")!, props: { app: state } });
void state.load();
