import { useEffect } from 'react';
import { useQuery } from '@apollo/client/react';
import { describeError } from '../errors';
import { ModelsDocument } from '../operations';
import { ErrorNotice } from './ErrorNotice';

interface Props {
  value: string | undefined;
  onChange: (model: string) => void;
}

/** The models the gateway's upstream lists (`models`); the first one until the user picks. */
export function ModelPicker({ value, onChange }: Props) {
  const { data, loading, error, refetch } = useQuery(ModelsDocument, { fetchPolicy: 'network-only' });
  const models = data?.models ?? [];

  useEffect(() => {
    const first = models[0];
    if (first && !models.some((model) => model.id === value)) onChange(first.id);
  }, [models, value, onChange]);

  return (
    <div className="field model-picker">
      <label htmlFor="model">Model</label>
      <select id="model" value={value ?? ''} onChange={(event) => onChange(event.target.value)} disabled={models.length === 0}>
        {models.length === 0 && <option value="">{loading ? 'Loading…' : 'No models'}</option>}
        {models.map((model) => (
          <option key={model.id} value={model.id}>
            {model.id}
            {model.contextWindow ? ` (${model.contextWindow.toLocaleString('en')} tokens)` : ''}
          </option>
        ))}
      </select>
      <button type="button" onClick={() => void refetch().catch(() => undefined)}>
        Reload models
      </button>
      {error && <ErrorNotice error={describeError(error)} />}
    </div>
  );
}
