import { useId, type InputHTMLAttributes, type RefObject } from 'react';

type FieldInput = Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'aria-invalid' | 'aria-describedby'>;

/**
 * A label, its input and, when there is a problem, the problem in role="alert" that the input
 * points to with aria-describedby (and aria-invalid). Fragments: the parent `.stack` lays them out.
 */
function Field({
  label,
  problem,
  inputRef,
  input,
}: {
  label: string;
  problem: string | null;
  inputRef?: RefObject<HTMLInputElement>;
  input: FieldInput;
}) {
  const id = useId();
  const errId = useId();
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <input
        {...input}
        id={id}
        ref={inputRef}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? errId : undefined}
      />
      {problem && (
        <p id={errId} role="alert" className="field-error">
          {problem}
        </p>
      )}
    </>
  );
}

/** A labelled, controlled text field with its inline error. */
export function TextField({
  label,
  value,
  onChange,
  problem,
  placeholder,
  type = 'text',
  inputMode,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  problem: string | null;
  placeholder?: string;
  type?: 'text' | 'date';
  inputMode?: 'decimal';
}) {
  return (
    <Field
      label={label}
      problem={problem}
      input={{ type, value, placeholder, inputMode, onChange: (e) => onChange(e.target.value) }}
    />
  );
}

/**
 * A labelled password field for a secret. Uncontrolled on purpose: the value is never React
 * state (so never written to an attribute); read it through `inputRef` on submit only.
 */
export function SecretField({
  label,
  inputRef,
  problem,
}: {
  label: string;
  inputRef: RefObject<HTMLInputElement>;
  problem: string | null;
}) {
  return (
    <Field
      label={label}
      problem={problem}
      inputRef={inputRef}
      input={{ type: 'password', autoComplete: 'off', spellCheck: false, autoCapitalize: 'off', autoCorrect: 'off' }}
    />
  );
}
