/** Settings, the engine's state and app notices. Saving is all or nothing: the services validate. */
import type {
  AppError,
  EngineStatus,
  Notice,
  PublicSettings,
  Result,
  SettingsPatch,
  SpillwayApi,
} from '../../../../electron/contract/index.js';

export class SettingsState {
  settings = $state<PublicSettings | null>(null);
  engine = $state<EngineStatus | null>(null);
  notices = $state<Notice[]>([]);
  mode = $state<'desktop' | 'headless'>('desktop');
  /** The last refused save, with the field it names. */
  error = $state<AppError | null>(null);
  /** First run: no local model, and no enabled endpoint that names a model. */
  readonly needsSetup = $derived(
    this.settings !== null && this.settings.local.modelPath === null && !this.settings.endpoints.some((e) => e.enabled && e.model.trim() !== ''),
  );

  constructor(private readonly api: SpillwayApi) {
    api.on('settings:update', (s) => {
      this.settings = s;
    });
    api.on('engine:update', (e) => {
      this.engine = e;
    });
    api.on('notice', (n) => {
      this.notices.push(n);
    });
  }

  async load(): Promise<void> {
    const [settings, engine, info] = await Promise.all([this.api.settingsGet({}), this.api.engineStatus({}), this.api.appInfo({})]);
    if (settings.ok) this.settings = settings.value;
    if (engine.ok) this.engine = engine.value;
    if (info.ok) {
      this.notices = info.value.notices;
      this.mode = info.value.mode;
    }
  }

  /** Applies a patch; on refusal nothing changes and `error` names the field. */
  async save(patch: SettingsPatch): Promise<boolean> {
    return this.settle(await this.api.settingsSet({ patch }));
  }

  async setHfToken(token: string | null): Promise<boolean> {
    return this.settle(await this.api.settingsSetHfToken({ token }));
  }

  /** Every settings call answers with the new settings or the reason for refusing. */
  private settle(result: Result<PublicSettings>): boolean {
    if (!result.ok) {
      this.error = result.error;
      return false;
    }
    this.error = null;
    this.settings = result.value;
    return true;
  }

  dismissNotice(id: string): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }
}
