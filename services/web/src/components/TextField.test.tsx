import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { createRef } from 'react';
import { describe, expect, it } from 'vitest';
import { SecretField, TextField } from './TextField';

describe('TextField', () => {
  it('labels the input and points it at its problem', () => {
    const { rerender } = render(<TextField label="Name" value="" onChange={() => {}} problem={null} placeholder="P" />);
    const input = screen.getByLabelText('Name');
    expect(input).toHaveAttribute('type', 'text');
    expect(input).toHaveAttribute('placeholder', 'P');
    expect(input).not.toHaveAttribute('aria-invalid');
    expect(input).not.toHaveAttribute('aria-describedby');
    rerender(<TextField label="Name" value="" onChange={() => {}} problem="Too short." />);
    expect(input).toHaveAttribute('aria-invalid', 'true');
    expect(input).toHaveAccessibleDescription('Too short.');
    expect(screen.getByRole('alert')).toHaveTextContent('Too short.');
  });
});

describe('SecretField', () => {
  it('is an uncontrolled password field read through its ref', async () => {
    const ref = createRef<HTMLInputElement>();
    render(<SecretField label="API key" inputRef={ref} problem={null} />);
    const input = screen.getByLabelText('API key');
    expect(input).toHaveAttribute('type', 'password');
    expect(input).toHaveAttribute('autocomplete', 'off');
    expect(input).toHaveAttribute('spellcheck', 'false');
    await userEvent.type(input, 'sk-secret');
    expect(ref.current?.value).toBe('sk-secret');
    expect(input).not.toHaveAttribute('value');
  });
});
